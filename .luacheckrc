std = "max"
max_line_length = 120
files["spec"] = { std = "+busted" }
files["bin/dify-mock"] = { std = "max" }
exclude_files = { "build", ".luarocks", "lua_modules" }
