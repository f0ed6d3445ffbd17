--- The pages Flask itself answers, outside Dify's JSON error handlers:
-- routing 404s (an unknown path, or a `<uuid:…>` segment that is not a
-- UUID) and the trailing-slash redirect.  Byte for byte as werkzeug 3 writes them.

local flask = {}

flask.HTML = "text/html; charset=utf-8"

flask.NOT_FOUND_PAGE = table.concat({
  "<!doctype html>\n",
  "<html lang=en>\n",
  "<title>404 Not Found</title>\n",
  "<h1>Not Found</h1>\n",
  "<p>The requested URL was not found on the server. If you entered the URL manually ",
  "please check your spelling and try again.</p>\n",
})

--- The body of a redirect to `location`.
function flask.redirect_page(location)
  return table.concat({
    "<!doctype html>\n",
    "<html lang=en>\n",
    "<title>Redirecting...</title>\n",
    "<h1>Redirecting...</h1>\n",
    '<p>You should be redirected automatically to the target URL: <a href="', location, '">',
    location, "</a>. If not, click the link.\n",
  })
end

return flask
