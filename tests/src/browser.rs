//! A real headless Chromium for the browser tests, driven over WebDriver by a chromedriver this
//! harness starts itself (one per [`Browser`], on a port chromedriver picks).
//!
//! Element actions wait up to [`ACTION_TIMEOUT`] for their element to be displayed, and every
//! wait has a deadline. A failure names what was awaited and what the page showed (URL and a text
//! excerpt), and a screenshot of it is saved under `target/browser-screenshots/`.
//!
//! Chromium blocks popups as it does for people: only a click (a user gesture) may open one, so a
//! page that opens its popup too late fails the tests as it would fail a person.
//!
//! `GANGWAY_CHROMIUM` and `GANGWAY_CHROMEDRIVER` override the Debian paths
//! (`scripts/services.sh`'s `ensure_browser` installs those).

use anyhow::{anyhow, bail, Context};
use fantoccini::wd::WindowHandle;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use url::Url;

/// How long `click`, `fill`, `select` and `text` wait for their element.
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(10);
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(25);
const EXCERPT_CHARS: usize = 600;

const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--window-size=1280,900",
];

/// One headless Chromium session. Call [`Browser::close`] at the end of a test; dropping it
/// without closing (a failed test) kills chromedriver and the browser it started.
pub struct Browser {
    client: Client,
    main_window: WindowHandle,
    /// Windows this session has been in, so a popup is told apart from them.
    visited: Vec<WindowHandle>,
    driver: Driver,
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium with its own empty profile.
    pub async fn launch() -> anyhow::Result<Self> {
        let chromium = binary("GANGWAY_CHROMIUM", "/usr/bin/chromium")?;
        let driver = Driver::start().await?;
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|arg| arg.to_string()).collect();
        args.push(format!("--user-data-dir={}", driver.profile.display()));
        let Value::Object(capabilities) = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "pageLoad": 30_000, "script": 10_000 },
            // chromedriver adds --disable-popup-blocking unless told not to.
            "goog:chromeOptions": { "binary": chromium, "args": args, "excludeSwitches": ["disable-popup-blocking"] },
        }) else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .with_context(|| format!("starting {chromium} through chromedriver at {}", driver.url))?;
        let main_window = client.window().await.context("reading the first window")?;
        Ok(Self {
            client,
            visited: vec![main_window.clone()],
            main_window,
            driver,
        })
    }

    /// Loads `url` in the current window and waits for its `load` event.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        if let Err(error) = self.client.goto(url).await {
            return Err(self.failure(&format!("loading {url}: {error}"), None).await);
        }
        Ok(())
    }

    /// Clicks the element matching `css` once it is displayed.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.displayed(css, ACTION_TIMEOUT).await?;
        if let Err(error) = element.click().await {
            return Err(self.failure(&format!("clicking {css}: {error}"), None).await);
        }
        Ok(())
    }

    /// Replaces the value of the input matching `css` with `text`, typed as keystrokes.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.displayed(css, ACTION_TIMEOUT).await?;
        let typed = async {
            element.clear().await?;
            element.send_keys(text).await
        };
        if let Err(error) = typed.await {
            return Err(self
                .failure(&format!("typing {text:?} into {css}: {error}"), None)
                .await);
        }
        Ok(())
    }

    /// Chooses the `<option value="...">` `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let element = self.displayed(css, ACTION_TIMEOUT).await?;
        if let Err(error) = element.select_by_value(value).await {
            let what = format!("selecting value {value:?} in {css}: {error}");
            return Err(self.failure(&what, None).await);
        }
        Ok(())
    }

    /// The rendered text of the element matching `css`, once it is displayed.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let element = self.displayed(css, ACTION_TIMEOUT).await?;
        match element.text().await {
            Ok(text) => Ok(text),
            Err(error) => Err(self
                .failure(&format!("reading the text of {css}: {error}"), None)
                .await),
        }
    }

    /// The current window's URL.
    pub async fn current_url(&self) -> anyhow::Result<Url> {
        self.client.current_url().await.context("reading the current URL")
    }

    /// Waits until an element matching `css` is displayed.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> anyhow::Result<()> {
        self.displayed(css, timeout).await.map(drop)
    }

    /// Waits until the element matching `css` shows text containing `needle`; returns its text.
    pub async fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let what = format!("{css} to show text containing {needle:?}");
        self.poll(&what, timeout, async || {
            for element in self.client.find_all(Locator::Css(css)).await? {
                let text = element.text().await?;
                if text.contains(needle) {
                    return Ok(Some(text));
                }
            }
            Ok(None)
        })
        .await
    }

    /// Waits until the current window's URL satisfies `predicate`; returns that URL.
    pub async fn wait_for_url(
        &self,
        predicate: impl Fn(&Url) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Url> {
        self.poll("the URL to match", timeout, async || {
            let url = self.client.current_url().await?;
            Ok(predicate(&url).then_some(url))
        })
        .await
    }

    /// Waits for a window this session has not been in yet (a popup from `window.open`),
    /// switches to it and returns its handle.
    pub async fn switch_to_new_window(&mut self, timeout: Duration) -> anyhow::Result<WindowHandle> {
        let visited = &self.visited;
        let client = &self.client;
        let window = self
            .poll("a new window to open", timeout, async || {
                let windows = client.windows().await?;
                Ok(windows.into_iter().find(|window| !visited.contains(window)))
            })
            .await?;
        self.client
            .switch_to_window(window.clone())
            .await
            .context("switching to the new window")?;
        self.visited.push(window.clone());
        Ok(window)
    }

    /// Switches back to the window the session started in.
    pub async fn switch_to_main(&self) -> anyhow::Result<()> {
        self.client
            .switch_to_window(self.main_window.clone())
            .await
            .context("switching to the main window")
    }

    /// The handles of every open window.
    pub async fn windows(&self) -> anyhow::Result<Vec<WindowHandle>> {
        self.client.windows().await.context("listing the windows")
    }

    /// Whether a script on the current page may open a window without a user gesture (closing it
    /// again if so): `false` when popups are blocked, as in people's browsers.
    pub async fn script_opens_popups(&self) -> anyhow::Result<bool> {
        let opened = self
            .client
            .execute(
                "const w = window.open('about:blank', '_blank'); if (w) { w.close(); } return w !== null;",
                vec![],
            )
            .await
            .context("opening a window from a script")?;
        Ok(opened.as_bool().unwrap_or(true))
    }

    /// Waits until exactly `count` windows are open (a popup that closes itself, say).
    pub async fn wait_for_windows(&self, count: usize, timeout: Duration) -> anyhow::Result<()> {
        let what = format!("{count} open window(s)");
        self.poll(&what, timeout, async || {
            Ok((self.client.windows().await?.len() == count).then_some(()))
        })
        .await
    }

    /// Ends the session (Chromium quits and its profile is removed) and stops chromedriver.
    pub async fn close(self) -> anyhow::Result<()> {
        let Self { client, driver, .. } = self;
        let closed = client.close().await.context("ending the WebDriver session");
        drop(driver);
        closed
    }

    async fn displayed(&self, css: &str, timeout: Duration) -> anyhow::Result<fantoccini::elements::Element> {
        let what = format!("{css} to be displayed");
        self.poll(&what, timeout, async || {
            for element in self.client.find_all(Locator::Css(css)).await? {
                if element.is_displayed().await? {
                    return Ok(Some(element));
                }
            }
            Ok(None)
        })
        .await
    }

    /// Runs `attempt` until it yields a value or `timeout` passes. Errors count as "not yet"
    /// (a page in the middle of navigating answers with some), and the last one is reported.
    async fn poll<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut attempt: impl AsyncFnMut() -> Result<Option<T>, fantoccini::error::CmdError>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        loop {
            match attempt().await {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {}
                Err(error) => last_error = Some(error.to_string()),
            }
            if Instant::now() >= deadline {
                let what = format!("timed out after {timeout:?} waiting for {what}");
                return Err(self.failure(&what, last_error).await);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// An error that says what failed and what the current window showed, with a screenshot.
    async fn failure(&self, what: &str, last_error: Option<String>) -> anyhow::Error {
        let url = match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(error) => format!("(unavailable: {error})"),
        };
        let text = match self
            .client
            .execute("return document.body ? document.body.innerText : ''", vec![])
            .await
        {
            Ok(Value::String(text)) => excerpt(&text),
            Ok(other) => other.to_string(),
            Err(error) => format!("(unavailable: {error})"),
        };
        let mut message = format!("{what}\n  url:  {url}\n  text: {text}");
        if let Some(error) = last_error {
            message.push_str(&format!("\n  last error: {error}"));
        }
        match self.screenshot().await {
            Ok(path) => message.push_str(&format!("\n  screenshot: {}", path.display())),
            Err(error) => message.push_str(&format!("\n  screenshot: (none: {error:#})")),
        }
        anyhow!(message)
    }

    async fn screenshot(&self) -> anyhow::Result<PathBuf> {
        self.save_screenshot(&uuid::Uuid::new_v4().to_string()).await
    }

    /// Saves what the current window shows as `target/browser-screenshots/<name>.png`, kept
    /// after the run for people to look at.
    pub async fn save_screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = screenshot_dir()?;
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// The current value of the form control matching `css`.
    pub async fn value(&self, css: &str) -> anyhow::Result<String> {
        let element = self.displayed(css, ACTION_TIMEOUT).await?;
        let value = element
            .prop("value")
            .await
            .with_context(|| format!("reading the value of {css}"))?;
        Ok(value.unwrap_or_default())
    }

    /// Form controls a person cannot name: visible inputs, selects and text areas with neither
    /// a `<label>` nor an `aria-label`, by id or name.
    pub async fn unlabelled_controls(&self) -> anyhow::Result<Vec<String>> {
        let found = self
            .client
            .execute(
                "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]\
                   .filter(c => c.labels.length === 0 && !c.getAttribute('aria-label'))\
                   .map(c => c.id || c.name);",
                vec![],
            )
            .await
            .context("looking for unlabelled controls")?;
        Ok(serde_json::from_value(found).unwrap_or_default())
    }

    /// The computed value of a CSS `property` of the element matching `css`, as the browser
    /// paints it (colours as `rgb(r, g, b)`).
    pub async fn style(&self, css: &str, property: &str) -> anyhow::Result<String> {
        self.displayed(css, ACTION_TIMEOUT).await?;
        let value = self
            .client
            .execute(
                "return getComputedStyle(document.querySelector(arguments[0])).getPropertyValue(arguments[1]);",
                vec![json!(css), json!(property)],
            )
            .await
            .with_context(|| format!("reading {property} of {css}"))?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }
}

/// The chromedriver process and the profile directory its Chromium uses.
struct Driver {
    process: Child,
    url: String,
    profile: PathBuf,
}

impl Driver {
    async fn start() -> anyhow::Result<Self> {
        let chromedriver = binary("GANGWAY_CHROMEDRIVER", "/usr/bin/chromedriver")?;
        let profile = std::env::temp_dir().join(format!("gangway-browser-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile)
            .with_context(|| format!("creating the profile directory {}", profile.display()))?;
        let mut command = Command::new(&chromedriver);
        command
            .args(["--port=0", "--allowed-ips=127.0.0.1", "--log-level=WARNING"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // Its own process group, so that Drop can stop Chromium along with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut process = command
            .spawn()
            .with_context(|| format!("starting {chromedriver}"))?;
        let stdout = process.stdout.take().expect("piped stdout");
        let (port_tx, port_rx) = tokio::sync::oneshot::channel();
        // Reads the line that announces the port, then drains the rest so chromedriver never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            let mut seen = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(tx) = port_tx.take_if(|_| line.contains("started successfully on port")) {
                    let port = line
                        .trim_end_matches('.')
                        .rsplit(' ')
                        .next()
                        .and_then(|port| port.parse::<u16>().ok());
                    let _ = tx.send(port.ok_or(line));
                } else if port_tx.is_some() {
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
            if let Some(tx) = port_tx {
                let _ = tx.send(Err(seen));
            }
        });
        let mut driver = Self {
            process,
            url: String::new(),
            profile,
        };
        let port = match tokio::time::timeout(STARTUP_TIMEOUT, port_rx).await {
            Ok(Ok(Ok(port))) => port,
            Ok(Ok(Err(output))) => bail!("{chromedriver} did not report a port; it printed:\n{output}"),
            Ok(Err(_)) => bail!("{chromedriver} stopped before reporting a port"),
            Err(_) => bail!("{chromedriver} did not report a port within {STARTUP_TIMEOUT:?}"),
        };
        driver.url = format!("http://127.0.0.1:{port}");
        Ok(driver)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Chromium is a child of chromedriver in the same process group: stop them all.
        let group = format!("-{}", self.process.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn binary(variable: &str, default: &str) -> anyhow::Result<String> {
    let path = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
    if !std::path::Path::new(&path).exists() {
        bail!(
            "{path} not found: the browser tests need Chromium and ChromeDriver \
             (scripts/test.sh installs Debian's chromium and chromium-driver; or set {variable})"
        );
    }
    Ok(path)
}

/// `target/browser-screenshots`, found from the test binary's path (`target/debug/deps/...`).
fn screenshot_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe
        .ancestors()
        .nth(3)
        .context("the test binary is not under target/<profile>/deps")?;
    Ok(target.join("browser-screenshots"))
}

fn excerpt(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{:?}…", &flat[..cut]),
        None => format!("{flat:?}"),
    }
}
