// The fields of ternserve-loadgen's JSON report (README "Load generator"), written out here rather
// than taken from client/loadgen_stats.cc, so that the tests notice a field that goes missing.
#ifndef TERNSERVE_TESTS_CLIENT_LOADGEN_REPORT_FIELDS_H_
#define TERNSERVE_TESTS_CLIENT_LOADGEN_REPORT_FIELDS_H_

namespace ternserve {

inline constexpr const char* kLoadgenReportFields[] = {"sent",
                                                       "ok",
                                                       "errors_by_code",
                                                       "expired_in_client",
                                                       "slo_attainment",
                                                       "measured_accuracy",
                                                       "expected_accuracy",
                                                       "p50_ms",
                                                       "p90_ms",
                                                       "p99_ms",
                                                       "throughput_rps",
                                                       "subnet_mix",
                                                       "offered_rps",
                                                       "duration_s",
                                                       "max_send_lag_ms",
                                                       "server_queue_p50_ms",
                                                       "server_compute_p50_ms",
                                                       "server_deadline_met",
                                                       "outside_p50_ms",
                                                       "outside_p99_ms",
                                                       "trace",
                                                       "connections",
                                                       "mode",
                                                       "api",
                                                       "server",
                                                       "max_attempts",
                                                       "start_unix_ms",
                                                       "backends",
                                                       "floors",
                                                       "floor_violations"};

}  // namespace ternserve

#endif  // TERNSERVE_TESTS_CLIENT_LOADGEN_REPORT_FIELDS_H_
