# bin/dify and its modules: `make install` installs them with the library.
# The installed script's first line names the Lua it was built for (LUA).
# LuaRocks installs bin/ itself (wrapped for its tree), so the rockspec passes
# INSTALL_SCRIPTS=no.
BINDIR ?= $(PREFIX)/bin
INSTALL_SCRIPTS ?= yes

.PHONY: install-cli
install: install-cli

install-cli:
	mkdir -p $(DESTDIR)$(INSTALL_LMOD)/dify/cli
	cp lua/dify/cli/*.lua $(DESTDIR)$(INSTALL_LMOD)/dify/cli/
ifeq ($(INSTALL_SCRIPTS),yes)
	mkdir -p $(DESTDIR)$(BINDIR)
	sed '1s|.*|#!/usr/bin/env $(LUA)|' bin/dify > $(DESTDIR)$(BINDIR)/dify
	chmod 755 $(DESTDIR)$(BINDIR)/dify
endif
