//! Integration tests. Each module is one capability, named for it.

/// Cassette files: format, round trips, errors with positions.
mod cassette_format;
/// Issue 13's messages: addresses, the proxy's start-up line, help texts.
mod cli_messages;
/// Issue 14: the whole CMA under contract at run time: overlay, statuses, queries, real traffic.
mod contract_cma;
/// Issue 14: the generated CMA contract (schemas/cma/) matches its generator and compiles.
mod contract_generated;
/// Issue 14: --list-endpoints, and the secret attribute list kept in step with the schemas.
mod contract_listing;
/// Issue 14: the 2022 real traffic, jobs from start to result, the example CMA cassette.
mod contract_real_traffic;
/// The contract's rules, checked through the library on real request shapes.
mod contract_rules;
/// README and docs/: every relative link resolves, no path outside the repository.
mod docs_links;
/// Issue 14: the fake CMA refuses what the API refuses, every answer within the contract.
mod fake_cma;
/// The fake DatoCMS upstream the proxy tests run against, checked on its own.
mod fake_upstream;
/// Hardening: kill -9 while recording, two processes on one cassette.
mod hardening_durability;
/// Hardening: request smuggling attempts never reach the upstream.
mod hardening_framing;
/// Hardening: canary secrets in every disguise stay off disk, logs and reports.
mod hardening_secrets;
/// Hardening: slowloris, slow readers and overload.
mod hardening_slow;
/// Review of bad input: arrays for objects, private names, undecodable bodies, unbounded cassettes.
mod input_review;
/// Issue 12 A: every written byte reads back; unreadable files, non-cassettes, links, other writers.
mod integrity_disk;
/// Issue 12: one validation of the cassette format; header bytes kept exactly.
mod integrity_format;
/// Issue 12 in replay: RFC framing, numbers by value, explained misses, own answers, header bytes.
mod integrity_replay;
/// Issue 12 on the upstream side: orphaned exchanges, stale connections, request targets, bodiless framing.
mod integrity_upstream;
/// The official Node client (tests/clients/node) through proxy, replay and --enforce.
mod official_client;
/// Issue 14: the official client's broad CMA flow through proxy and replay, schema-checked, no canary leaks.
mod official_client_cma;
/// `datovcr proxy` as a binary: canary secrets, shutdown, option errors.
mod proxy_cli;
/// `datovcr proxy` forwarding: endpoints, header hygiene, prefixes, compression, contract.
mod proxy_forwarding;
/// `datovcr proxy` limits and upstream failures: every status of the limits table.
mod proxy_limits;
/// `datovcr proxy` recording: cassette selection, record modes, concurrency.
mod proxy_recording;
/// Property tests: the write path never emits a secret, wherever it hides.
mod redaction_properties;
/// `datovcr replay` as a binary: main job, --strict, startup errors, --on-miss.
mod replay_cli;
/// Issue 13: `replay --on-miss record` new episodes, what replay loaded and left unused, no lock files after a clean stop.
mod replay_episodes;
/// `datovcr replay` misses: the nearest interaction and the `--path-prefix` hint.
mod replay_misses;
/// `datovcr replay` through the library: fidelity, sequences, misses, matching.
mod replay_serving;
/// Issue 14 review: the whole-CMA contract attacked from outside, each break now fixed.
mod review_cma_contract;
/// Issue 12 review: new variants of each item's kind, found by an adversarial review, now fixed.
mod review_findings;
/// Review of the remembered clean header fields: a header's lines are one list, a credential whole.
mod review_header_lists;
/// Cassette loading review: cassettes the faster loading read otherwise than the whole-file reader, now fixed.
mod review_loading;
/// Issue 15 review: the performance changes attacked from outside, each break now fixed.
mod review_perf;
/// Review of `proxy --record none`'s quick check: each exchange through both proxies, each break now fixed.
mod review_quick_check;
/// `datovcr schema-check` as a user runs it: the real binary.
mod schema_check_cli;
/// Issue 14: maps of HTTP headers in bodies read by every header rule, --redact-header included.
mod secrets_header_maps;
/// Issue 11 through the proxy: labels, codings, spellings, encodings, log paths, names.
mod secrets_proxy;
/// Real DatoCMS traffic with canaries at its redacted places: proxy and schema-check.
mod secrets_real_traffic;
/// `datovcr replay` never prints a request's credentials; --on-miss record redacts like the proxy.
mod secrets_replay;
/// Issue 11 in schema-check: found by content and spelling, never quoted in a report.
mod secrets_reports;
/// Shared fixtures.
mod support;
/// Adversarial review of the first promise: each leak found, now fixed, with variants of its kind.
mod trust_review;
/// Second adversarial review of the first promise: each leak found, now fixed, with variants of its kind.
mod trust_review2;
