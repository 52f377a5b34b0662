# Every target installs what it needs first (scripts/setup.sh). Run as root.
.PHONY: setup build test unit demo bench clean install uninstall
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
# Lay the built package out under PREFIX (default /usr/local; DESTDIR stages it elsewhere,
# UNITDIR moves the systemd unit). Needs node >= 20 and npm ci done; see README, "Run it on a host".
install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" UNITDIR="$(UNITDIR)" bash scripts/install.sh
# The same as `yard uninstall` (see yard uninstall --help); ARGS=--purge also removes the state.
uninstall:
	node dist/cli/main.js uninstall --prefix "$(or $(PREFIX),/usr/local)" --root "$(or $(DESTDIR),/)" $(ARGS)
