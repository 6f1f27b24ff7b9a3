#!/usr/bin/env python3
"""``cml comment create|update`` as CML 0.20 does it on GitHub (src/cml.js, drivers/github.js).

The watermark is CML's: ``![](https://cml.dev/watermark.png#<sha> "CML watermark <title>")``,
where <sha> is the pull request's head SHA (from the event) and the title escapes ``_ * [ <``.
``update`` lists the pull request's comments (GET .../issues/<n>/comments), edits the last
one whose body holds the watermark (PATCH .../issues/comments/<id>), else creates one (POST
.../issues/<n>/comments). The API is ``<scheme>://<host>/api/v3`` for a host other than
github.com (CML itself always uses https there). Token: REPO_TOKEN, else GITHUB_TOKEN.
Images are not published (the workflows pass --publish=false unless opted in).
"""

import argparse
import json
import os
import re
import sys
import urllib.request
from urllib.parse import urlparse

WATERMARK_IMAGE = "https://cml.dev/watermark.png"


def _title(label: str) -> str:
    title = f"CML watermark {label}".strip()
    for char in "_*[<":
        title = title.replace(char, "\\" + char)
    return title


def _api(repo: str) -> tuple[str, str, str]:
    url = urlparse(repo)
    owner, name = url.path.strip("/").removesuffix(".git").split("/")[:2]
    base = ("https://api.github.com" if url.hostname == "github.com"
            else f"{url.scheme}://{url.netloc}/api/v3")
    return base, owner, name


def _call(method: str, url: str, token: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"token {token}", "Accept": "application/vnd.github.v3+json",
        "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cml")
    parser.add_argument("group", choices=["comment"])
    parser.add_argument("action", choices=["create", "update"])
    parser.add_argument("markdown_file")
    parser.add_argument("--repo", default=os.environ.get("GITHUB_SERVER_URL", "") + "/"
                        + os.environ.get("GITHUB_REPOSITORY", ""))
    parser.add_argument("--target", default="pr")
    parser.add_argument("--watermark-title", default="")
    parser.add_argument("--publish", nargs="?", const="true", default="false")
    args = parser.parse_args(argv)
    token = os.environ.get("REPO_TOKEN") or os.environ.get("GITHUB_TOKEN")
    if not token:
        print("cml: token not found", file=sys.stderr)
        return 1
    kind, _, number = args.target.partition("/")
    if kind != "pr" or not number:
        print(f"cml stand-in: only --target=pr/<number>, not {args.target!r}", file=sys.stderr)
        return 1
    with open(os.environ["GITHUB_EVENT_PATH"], encoding="utf-8") as f:
        event = json.load(f)
    sha = (event.get("pull_request") or {}).get("head", {}).get("sha") or os.environ["GITHUB_SHA"]
    title = _title(args.watermark_title)
    with open(args.markdown_file, encoding="utf-8") as f:
        report = f.read() + f'\n\n![]({WATERMARK_IMAGE}#{sha} "{title}")'
    base, owner, name = _api(args.repo)
    issue = f"{base}/repos/{owner}/{name}/issues/{number}"
    mark = re.compile(rf'!\[\]\({re.escape(WATERMARK_IMAGE)}#[0-9a-fA-F]+ "{re.escape(title)}"\)')
    existing = None
    if args.action == "update":
        existing = next((c for c in reversed(_call("GET", f"{issue}/comments", token))
                         if mark.search(c["body"])), None)
    if existing:
        answer = _call("PATCH", f"{base}/repos/{owner}/{name}/issues/comments/{existing['id']}",
                       token, {"body": report})
    else:
        answer = _call("POST", f"{issue}/comments", token, {"body": report})
    print(answer["html_url"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
