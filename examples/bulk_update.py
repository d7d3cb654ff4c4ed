#!/usr/bin/env python3
"""Sets the status of every improvement action that matches a filter, from a script.

An example API client using only Python's standard library. It pages through the tenant's
`improvementActions` with a filter, then sends the changes with `bulkSetActionStatus` in chunks
of at most 500 (each chunk is applied all-or-nothing). Every change carries the `version` it
was read at as `expectedVersion`, so an action someone edited in between is reported as a
`CONFLICT` instead of being overwritten.

    export SECURESCORE_TOKEN=ssk_...        # an OPERATOR or ADMIN token of the tenant
    python3 examples/bulk_update.py --tenant contoso-bank --status PLANNED \\
        --category IDENTITY --comment "planned in the Q1 sprint"

Actions that cannot take a status by hand are skipped and reported, not sent: completed ones
(their status is locked until they regress) and DEVICE ones (their status follows the device
management product; use `recordDeviceException`). Actions already in the status are left alone.

Exit status: 0 when every change that could be made was applied (or there was nothing to
change), 1 when the server refused some, 2 on usage or transport errors.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

CHUNK = 500  # the server's limit on items per bulkSetActionStatus

ACTIONS = """
query Actions($slug: String!, $filter: ImprovementActionFilter, $after: String) {
  tenant(slug: $slug) {
    improvementActions(filter: $filter, first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { controlId title status version category }
    }
  }
}
"""

BULK = """
mutation Bulk($input: BulkSetActionStatusInput!) {
  bulkSetActionStatus(input: $input) {
    actions { controlId status version }
    score { current { points percentage } planned { points percentage } }
    userErrors { field message code }
  }
}
"""


class GraphQLError(Exception):
    pass


def graphql(url, token, query, variables):
    """POSTs one GraphQL request and returns its `data`; raises GraphQLError on errors."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/graphql-response+json, application/json;q=0.9",
            "Authorization": f"Bearer {token}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            result = json.load(response)
    except urllib.error.HTTPError as err:
        # GraphQL-over-HTTP answers request errors with 4xx and a JSON body that says why.
        try:
            result = json.load(err)
        except ValueError:
            raise GraphQLError(f"HTTP {err.code}: {err.reason}") from None
    if result.get("errors"):
        raise GraphQLError("; ".join(
            f"{e.get('message')} ({e.get('extensions', {}).get('code', '?')})" for e in result["errors"]
        ))
    return result["data"]


def matching_actions(url, token, slug, action_filter):
    after = None
    while True:
        data = graphql(url, token, ACTIONS, {"slug": slug, "filter": action_filter, "after": after})
        if data["tenant"] is None:
            raise GraphQLError(f"no tenant {slug!r} for this token")
        page = data["tenant"]["improvementActions"]
        yield from page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("SECURESCORE_URL", "http://127.0.0.1:8000/graphql"))
    parser.add_argument("--tenant", required=True, help="tenant slug")
    parser.add_argument("--status", required=True, help="new status, e.g. PLANNED or RISK_ACCEPTED")
    parser.add_argument("--comment", help="comment recorded with every change")
    parser.add_argument("--category", action="append", default=[], help="only this category (repeatable)")
    parser.add_argument("--tag", action="append", default=[], help="only actions with any of these tags")
    parser.add_argument("--search", help="only actions whose id, title or remediation contain this")
    parser.add_argument("--from-status", action="append", default=[], help="only actions in this status")
    parser.add_argument("--dry-run", action="store_true", help="list the changes without making them")
    args = parser.parse_args()
    token = os.environ.get("SECURESCORE_TOKEN")
    if not token:
        parser.error("set SECURESCORE_TOKEN to an API token")

    action_filter = {}
    if args.category:
        action_filter["categories"] = args.category
    if args.tag:
        action_filter["tagsAny"] = args.tag
    if args.search:
        action_filter["search"] = args.search
    if args.from_status:
        action_filter["statuses"] = args.from_status

    try:
        todo, skipped = [], []
        for a in matching_actions(args.url, token, args.tenant, action_filter):
            if a["status"] == args.status:
                continue
            if a["status"] == "COMPLETED":
                skipped.append((a, "completed: its status is locked until it regresses"))
            elif a["category"] == "DEVICE":
                skipped.append((a, "DEVICE action: its status follows device management (recordDeviceException)"))
            else:
                todo.append(a)
        for action, why in skipped:
            print(f"  skipped {action['controlId']}: {why}")
        print(f"{len(todo)} action(s) of {args.tenant} to set to {args.status}"
              + (f", {len(skipped)} skipped" if skipped else ""))
        for action in todo:
            print(f"  {action['controlId']}: {action['status']} -> {args.status}  ({action['title']})")
        if args.dry_run or not todo:
            return 0
        refused = 0
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            items = [{"controlId": a["controlId"], "status": args.status,
                      "expectedVersion": a["version"], "comment": args.comment} for a in chunk]
            payload = graphql(args.url, token, BULK, {"input": {"tenantSlug": args.tenant, "items": items}})
            result = payload["bulkSetActionStatus"]
            for error in result["userErrors"]:
                # `field` is ["input", "items", "<index>", ...]: name the action it refers to.
                index = int(error["field"][2]) if len(error["field"]) > 2 else None
                which = chunk[index]["controlId"] if index is not None else "(chunk)"
                print(f"  refused {which}: {error['message']} ({error['code']})", file=sys.stderr)
            if result["userErrors"]:
                refused += len(chunk)
                continue
            score = result["score"]
            print(f"applied {len(result['actions'])} change(s); score now "
                  f"{score['current']['points']} ({score['current']['percentage']}%), "
                  f"planned {score['planned']['points']} ({score['planned']['percentage']}%)")
        return 1 if refused else 0
    except (GraphQLError, urllib.error.URLError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
