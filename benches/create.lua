-- The official client's create request (headers and pretty-printed body as
-- @datocms/cma-client 5.8.1 sends them), for benches/instructions.sh.
wrk.method = "POST"
wrk.headers["content-type"] = "application/vnd.api+json"
wrk.headers["accept"] = "application/json"
wrk.headers["authorization"] = "Bearer 9b2f0c7d4e1a8b3c6d5e0f1a2b3c4d"
wrk.headers["user-agent"] = "@datocms/cma-client v5.8.1"
wrk.headers["x-api-version"] = "3"
wrk.headers["accept-language"] = "*"
wrk.headers["accept-encoding"] = "gzip, deflate"
wrk.body = [[{
  "data": {
    "type": "access_token",
    "attributes": {
      "name": "Read-only API token",
      "can_access_cda": true,
      "can_access_cda_preview": true,
      "can_access_cma": true
    },
    "relationships": {
      "role": {
        "data": {
          "type": "role",
          "id": "34"
        }
      }
    }
  }
}]]
