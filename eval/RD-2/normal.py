#!/usr/bin/env python3
"""Ordinary traffic of a web application's cache and session store, about 100 commands/s:
page-fragment cache entries with long URL-derived keys (GET, SETEX on a miss), sessions,
counters, a recent-activity list, and the admin page's key search (SCAN MATCH with a plain
prefix pattern) now and then."""
import os, random, sys, time
sys.path.insert(0, os.path.join(os.environ["CASE_DIR"], "..", "common"))
from resp import Redis

random.seed(12)
r = Redis()
cats = ["electronics/laptops", "electronics/phones", "home/kitchen", "garden/tools", "books/fiction"]
n = 0
while True:
    n += 1
    frag = "cache:fragment:/products/category/%s?page=%d&sort=%s&view=grid" % (
        random.choice(cats), random.randint(1, 40), random.choice(("price_asc", "price_desc", "newest")))
    if r.cmd("GET", frag) is None:
        r.cmd("SETEX", frag, 600, "<div class='grid'>" + "<li>item</li>" * random.randint(5, 40) + "</div>")
    sid = "session:%04d" % random.randint(1, 300)
    if r.cmd("GET", sid) is None:
        r.cmd("SETEX", sid, 1800, '{"user": %d, "csrf": "%032x"}' % (random.randint(1, 200), random.getrandbits(128)))
    r.cmd("INCR", "views:/page/%d" % random.randint(1, 50))
    r.cmd("LPUSH", "recent", "viewed %s" % frag[15:])
    r.cmd("LTRIM", "recent", 0, 99)
    if n % 5 == 0:
        r.cmd("LRANGE", "recent", 0, 9)
    if n % 50 == 0:
        cur = 0
        while True:
            cur, keys = r.cmd("SCAN", cur, "MATCH", "cache:fragment:/products/category/%s*" % random.choice(cats), "COUNT", 200)
            if cur == b"0":
                break
    time.sleep(0.05)
