"""Python `gql` against the securescore binary started by .ci/clients/run.

HTTP (AIOHTTPTransport with the bearer header): a query, a mutation whose business-rule failure
comes back as `userErrors` in data, and a missing tenant as a TransportQueryError with
`extensions.code == "NOT_FOUND"`. WebSocket (WebsocketsTransport, `graphql-transport-ws`, the
token in `connection_init`): `scoreUpdated`, a change over HTTP, the new score on the
subscription. Operations are validated locally against the committed schema.graphql.

    SECURESCORE_URL=http://127.0.0.1:PORT SECURESCORE_READER_TOKEN=ssk_… \
    SECURESCORE_OPERATOR_TOKEN=ssk_… python test_gql.py

Ends with a line `N passed, M failed`.
"""

import asyncio
import os
import pathlib
import sys
import unittest

from gql import Client, gql
from gql.transport.aiohttp import AIOHTTPTransport
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport

URL = os.environ.get("SECURESCORE_URL", "")
READER = os.environ.get("SECURESCORE_READER_TOKEN", "")
OPERATOR = os.environ.get("SECURESCORE_OPERATOR_TOKEN", "")
SLUG = os.environ.get("SECURESCORE_TENANT", "contoso-bank")
SCHEMA = (pathlib.Path(__file__).resolve().parents[2] / "schema.graphql").read_text()

SCORE = gql(
    """
    query Score($slug: String!) {
      tenant(slug: $slug) {
        slug
        secureScore { current { points } planned { points } maxScore { points } }
      }
    }
    """
)

OPEN_ACTIONS = gql(
    """
    query OpenActions($slug: String!) {
      tenant(slug: $slug) {
        improvementActions(
          first: 20
          filter: {
            statuses: [TO_ADDRESS]
            categories: [IDENTITY, APPS, DATA, INFRASTRUCTURE]
            hasPointsRemaining: true
          }
        ) { nodes { controlId status category pointsRemaining } }
      }
    }
    """
)

SET_STATUS = gql(
    """
    mutation SetStatus($input: SetActionStatusInput!) {
      setActionStatus(input: $input) {
        action { controlId status }
        score { planned { points } }
        userErrors { field message code }
      }
    }
    """
)

SCORE_UPDATED = gql(
    """
    subscription ScoreUpdated($slug: String!) {
      scoreUpdated(tenantSlug: $slug) { current { points } planned { points } }
    }
    """
)


def http_client(token):
    transport = AIOHTTPTransport(
        url=f"{URL}/graphql", headers={"Authorization": f"Bearer {token}"}
    )
    return Client(transport=transport, schema=SCHEMA)


def ws_client(token):
    transport = WebsocketsTransport(
        url=f"{URL.replace('http', 'ws', 1)}/graphql/ws",
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        init_payload={"Authorization": f"Bearer {token}"},
    )
    return Client(transport=transport, schema=SCHEMA)


async def open_action(session):
    """A TO_ADDRESS action with points left outside DEVICE."""
    result = await session.execute(OPEN_ACTIONS, variable_values={"slug": SLUG})
    nodes = result["tenant"]["improvementActions"]["nodes"]
    assert nodes, "the demo tenant has an open action to plan"
    node = nodes[0]
    assert node["status"] == "TO_ADDRESS" and node["category"] != "DEVICE", node
    assert node["pointsRemaining"] > 0, node
    return node


class GqlOverHttp(unittest.IsolatedAsyncioTestCase):
    async def test_query_the_score(self):
        async with http_client(READER) as session:
            result = await session.execute(SCORE, variable_values={"slug": SLUG})
        score = result["tenant"]["secureScore"]
        self.assertEqual(result["tenant"]["slug"], SLUG)
        self.assertGreater(score["maxScore"]["points"], 0)
        self.assertLessEqual(score["current"]["points"], score["planned"]["points"])
        self.assertLessEqual(score["planned"]["points"], score["maxScore"]["points"])

    async def test_business_rule_failure_is_a_user_error(self):
        async with http_client(OPERATOR) as session:
            action = await open_action(session)
            result = await session.execute(
                SET_STATUS,
                variable_values={
                    "input": {
                        "tenantSlug": SLUG,
                        "controlId": action["controlId"],
                        "status": "COMPLETED",
                    }
                },
            )
            payload = result["setActionStatus"]
            self.assertEqual(len(payload["userErrors"]), 1, payload)
            self.assertEqual(payload["userErrors"][0]["code"], "BAD_USER_INPUT")
            self.assertEqual(payload["userErrors"][0]["field"], ["input", "status"])
            self.assertIsNone(payload["action"])
            # Nothing was written: the action is still open.
            self.assertEqual((await open_action(session))["controlId"], action["controlId"])

    async def test_missing_tenant_is_not_found(self):
        async with http_client(READER) as session:
            with self.assertRaises(TransportQueryError) as raised:
                await session.execute(SCORE, variable_values={"slug": "no-such-tenant"})
        errors = raised.exception.errors
        self.assertEqual(errors[0]["extensions"]["code"], "NOT_FOUND", errors)
        self.assertEqual(errors[0]["path"], ["tenant"])

    async def test_reader_cannot_change_a_status(self):
        async with http_client(READER) as session:
            with self.assertRaises(TransportQueryError) as raised:
                await session.execute(
                    SET_STATUS,
                    variable_values={
                        "input": {"tenantSlug": SLUG, "controlId": "AdminMFAV2", "status": "PLANNED"}
                    },
                )
        self.assertEqual(raised.exception.errors[0]["extensions"]["code"], "FORBIDDEN")


class GqlOverWebSocket(unittest.IsolatedAsyncioTestCase):
    async def test_score_updated_after_a_change(self):
        async with ws_client(READER) as ws, http_client(OPERATOR) as http:
            scores = ws.subscribe(SCORE_UPDATED, variable_values={"slug": SLUG})
            first = (await asyncio.wait_for(anext(scores), 10))["scoreUpdated"]
            action = await open_action(http)
            result = await http.execute(
                SET_STATUS,
                variable_values={
                    "input": {
                        "tenantSlug": SLUG,
                        "controlId": action["controlId"],
                        "status": "PLANNED",
                        "comment": "gql CI",
                    }
                },
            )
            payload = result["setActionStatus"]
            self.assertEqual(payload["userErrors"], [])
            expected = payload["score"]["planned"]["points"]
            self.assertNotEqual(expected, first["planned"]["points"])

            async def until_expected():
                seen = []
                async for item in scores:
                    if item["scoreUpdated"]["planned"]["points"] == expected:
                        return item["scoreUpdated"]
                    seen.append(item)
                raise AssertionError(f"subscription ended; saw {seen}")

            pushed = await asyncio.wait_for(until_expected(), 10)
            self.assertEqual(pushed["planned"]["points"], expected)
            await scores.aclose()

    async def test_wrong_token_is_refused(self):
        with self.assertRaises(Exception):
            async with ws_client("ssk_not-a-valid-token") as ws:
                async for _ in ws.subscribe(SCORE_UPDATED, variable_values={"slug": SLUG}):
                    break


def main():
    if not (URL and READER and OPERATOR):
        sys.exit("set SECURESCORE_URL, SECURESCORE_READER_TOKEN and SECURESCORE_OPERATOR_TOKEN")
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    line = f"{passed} passed, {failed} failed"
    print(line + (f", {skipped} skipped" if skipped else ""))
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
