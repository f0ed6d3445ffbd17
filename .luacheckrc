std = "max"
max_line_length = 120
files["spec"] = { std = "+busted" }
files["bin/dify-mock"] = { std = "max" }
exclude_files = { "build", ".luarocks", "lua_modules" }
-- Code that runs inside Neovim (issue 14's plugin and proof) reads its `vim`.
files["examples/neovim"] = { globals = { "vim" } }
files["spec/neovim"] = { std = "max", globals = { "vim" } }
