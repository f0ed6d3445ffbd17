# The host-loop adapters (lua/dify/host/: luv, cqueues) go with `make install`;
# `make hostloops-test` runs their specs and the Neovim proof on every Lua
# (bash scripts/ci-hostloops, which installs neovim, lua-luv and lua-cqueues).
.PHONY: install-host hostloops-test
install: install-host

install-host:
	mkdir -p $(DESTDIR)$(INSTALL_LMOD)/dify/host
	cp lua/dify/host/*.lua $(DESTDIR)$(INSTALL_LMOD)/dify/host/

hostloops-test:
	bash scripts/ci-hostloops
