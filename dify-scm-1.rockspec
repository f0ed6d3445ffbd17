rockspec_format = "3.0"
package = "dify"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-dify/lua-dify.git",
}
description = {
  summary = "Dify Service API client: chat, streaming, files and audio, with a libcurl C core",
  detailed = [[
    require("dify") gives every Dify Service API call from Lua 5.1-5.4 and
    LuaJIT. Streaming answers are a plain for loop; uploads stream from a path;
    errors are values. Comes with the `dify` command line tool and a fake Dify
    server (`dify-mock`, Lua 5.4 + LuaSocket) for tests.
  ]],
  homepage = "https://github.com/lua-dify/lua-dify",
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson",
}
-- Only the library is declared: Debian and Ubuntu keep curl/curl.h in the
-- multiarch folder (/usr/include/x86_64-linux-gnu), where the compiler finds
-- it but LuaRocks' header check does not look, so declaring the header would
-- make a plain `luarocks make` fail there. CURL_DIR / CURL_INCDIR /
-- CURL_LIBDIR still point the build at another libcurl.
external_dependencies = {
  CURL = { library = "curl" },
}
build = {
  type = "make",
  build_target = "rock",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_CFLAGS = "-I$(LUA_INCDIR)",
    CURL_CFLAGS = "-I$(CURL_INCDIR)",
    CURL_LIBS = "-L$(CURL_LIBDIR) -lcurl",
  },
  install_variables = {
    BUILD = "build/rock",
    INSTALL_LMOD = "$(LUADIR)",
    INSTALL_CMOD = "$(LIBDIR)",
    INSTALL_SCRIPTS = "no",
  },
  install = {
    bin = { dify = "bin/dify", ["dify-mock"] = "bin/dify-mock" },
  },
}
