.PHONY: run test bench fmt

## Start the whole system on the local defaults (api + relay, projector).
run:
	scripts/run.sh

## Run every check and test (fmt, clippy, unit, integration and end-to-end).
test:
	scripts/test.sh

## Print the performance numbers (see README).
bench:
	scripts/bench.sh

fmt:
	cargo fmt --all
