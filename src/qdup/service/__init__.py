"""The HTTP service: the routes (app), request and response bodies (schemas), the checks every
request passes first (middleware), who may write (access), start-up (server) and the search page."""
