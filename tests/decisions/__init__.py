"""The hook's decisions: what `/sync` and `/nimcache/sync` answer for a given world (parse,
decide, render; DESIGN §4, §5, §9), through the pure core or the Flask test client."""
