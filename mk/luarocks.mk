# `luarocks make` builds with target `rock` (see the rockspec): from clean
# objects in build/rock each time, as the tree's Lua may differ from the
# previous build's.
ROCK_BUILD = build/rock

.PHONY: rock
rock:
	rm -rf $(ROCK_BUILD)
	$(MAKE) --no-print-directory BUILD=$(ROCK_BUILD) all
