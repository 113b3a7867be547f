-- The links read model records when the browser first came back from Embedded Signup
-- (`firstCallbackAt`), the console funnel's "callback" step. Links projected before it learn
-- theirs from the store, as a replay would give it to them.
UPDATE rm_onboarding_links l
   SET document = jsonb_set(l.document, '{firstCallbackAt}', to_jsonb(c.first_at))
  FROM (SELECT stream_id, min(occurred_at) AS first_at
          FROM events
         WHERE stream_type = 'onboarding_link' AND event_type = 'onboarding_link.callback_received'
         GROUP BY stream_id) c
 WHERE l.id = c.stream_id;
