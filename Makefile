# make install [PREFIX=/usr/local] [DESTDIR=...] [BIN_PATH=.build/release]; make uninstall: both through bin/install,
# which says what goes where (bin/install --help).
PREFIX ?= /usr/local
DESTDIR ?=
BIN_PATH ?=

install:
	bin/install --prefix "$(PREFIX)" --destdir "$(DESTDIR)" $(if $(BIN_PATH),--bin-path "$(BIN_PATH)")

uninstall:
	bin/install --uninstall --prefix "$(PREFIX)" --destdir "$(DESTDIR)"

.PHONY: install uninstall
