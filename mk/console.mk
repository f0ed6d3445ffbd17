# dify.console's modules (lua/dify/console/): `make install` installs them
# with the library (lua/dify/console.lua and the mock's console_*.lua go with
# lua/dify/*.lua and lua/dify/mock/*.lua).
.PHONY: install-console
install: install-console

install-console:
	mkdir -p $(DESTDIR)$(INSTALL_LMOD)/dify/console
	cp lua/dify/console/*.lua $(DESTDIR)$(INSTALL_LMOD)/dify/console/
