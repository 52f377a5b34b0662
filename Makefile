# Every target installs what it needs first (scripts/setup.sh). Run as root.
.PHONY: setup build test unit demo bench clean
setup:
	bash scripts/setup.sh
build: setup
test:
	bash scripts/test.sh
unit:
	bash scripts/setup.sh && npx --no-install vitest run --project unit
demo:
	bash scripts/demo.sh
bench:
	bash scripts/bench.sh
clean:
	rm -rf dist
