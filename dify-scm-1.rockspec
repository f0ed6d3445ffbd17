rockspec_format = "3.0"
package = "dify"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-dify/lua-dify.git",
}
description = {
  summary = "Dify Service API client: chat, streaming, files and audio, with a libcurl C core",
  detailed = [[
    require("dify") gives every Dify Service API call from Lua. Streaming answers
    are a plain for loop; uploads stream from a path; errors are values.
  ]],
  homepage = "https://github.com/lua-dify/lua-dify",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson",
}
external_dependencies = {
  CURL = { library = "curl" },
}
build = {
  type = "make",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_CFLAGS = "-I$(LUA_INCDIR)",
  },
  install_variables = {
    INSTALL_LMOD = "$(LUADIR)",
    INSTALL_CMOD = "$(LIBDIR)",
  },
  install = {
    bin = { ["dify-mock"] = "bin/dify-mock" },
  },
}
