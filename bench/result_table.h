// ResultTable: turns Google Benchmark runs into side-by-side rows (one row per layer x batch x
// threads, or per sub-net x batch), and TableReporter, the reporter that feeds it.
//
// Each benchmark is bound to one column of one row; a row is printed as soon as all of its
// benchmarks have reported, so the columns of a row were measured back to back. With repetitions, a
// column takes the median. Several benchmarks may be bound to one column (the fp32 layouts): the
// best one wins and its name goes into the row's variant field. Ratio fields (AddRatio) are
// computed from the row's own values when it is printed.
//
// --json prints each row as one JSON object per line, and nothing else on stdout; otherwise Google
// Benchmark's console output is kept and the rows follow as a plain table. Not thread-safe
// (Google Benchmark reports from one thread).
#ifndef TERNSERVE_BENCH_RESULT_TABLE_H_
#define TERNSERVE_BENCH_RESULT_TABLE_H_

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace ternserve::bench {

// The per-iteration counter a per-layer benchmark sets: giga multiply-accumulates, as a rate, so
// Google Benchmark divides by the time and shows it as ".../s".
inline constexpr char kGmacsCounter[] = "GMAC";

// `value` rounded to `significant_digits` (as printf's %g would print it).
double Round(double value, int significant_digits);

enum class Metric {
  kGmacs,         // the kGmacsCounter counter; higher is better
  kMilliseconds,  // real time per iteration; lower is better
};

class ResultTable {
 public:
  // Adds a row with fixed `fields` (e.g. layer, batch, threads) and `columns` set to null until
  // measured. Returns the row's index.
  int AddRow(nlohmann::ordered_json fields, const std::vector<std::string>& columns);
  // Benchmark `benchmark_name` measures `column` of `row`. With `variant_field`, several benchmarks
  // may share the column; the best one's `variant` is recorded in `variant_field`.
  void Bind(const std::string& benchmark_name, int row, const std::string& column, Metric metric,
            const std::string& variant_field = "", const std::string& variant = "");
  // Sets a fixed field of `row` (after its columns, in the order of the calls).
  void SetField(int row, const std::string& field, nlohmann::ordered_json value);
  // A note shown with the row (e.g. why a column is null).
  void AddNote(int row, const std::string& note);
  // Field `field` of `row` is scale * numerator / denominator, rounded to 3 significant digits,
  // computed when the row is printed from its fields or measured columns of those names; null if
  // either is null or the denominator is 0. So a row's ratios are always those of its own numbers.
  void AddRatio(int row, const std::string& field, const std::string& numerator,
                const std::string& denominator, double scale = 1.0);

  // Records one reported run (iteration or aggregate) and prints every row it completes.
  void Report(const benchmark::BenchmarkReporter::Run& run);
  // Prints the rows not printed yet: rows without benchmarks (weight bytes) and rows some of whose
  // benchmarks did not run (--benchmark_filter). Rows none of whose benchmarks ran are left out.
  void Finish();

  void set_json(bool json) { json_ = json; }

 private:
  struct Binding {
    int row;
    std::string column;
    Metric metric;
    std::string variant_field;
    std::string variant;
    bool reported = false;
  };
  struct Ratio {
    std::string field;
    std::string numerator;
    std::string denominator;
    double scale;
  };
  struct Row {
    nlohmann::ordered_json values;  // fields, then columns, then variant fields, ratios and notes
    std::vector<Ratio> ratios;
    int pending = 0;  // bound benchmarks not reported yet
    int bound = 0;    // bound benchmarks
    bool printed = false;
  };
  void Record(Binding& binding, double value);
  void Print(Row& row);

  bool json_ = false;
  std::vector<Row> rows_;
  std::map<std::string, Binding> bindings_;  // by benchmark name
};

// Forwards to Google Benchmark's console reporter (unless --json) and to a ResultTable.
class TableReporter : public benchmark::BenchmarkReporter {
 public:
  TableReporter(ResultTable* table, bool json);

  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

 private:
  ResultTable* table_;
  std::unique_ptr<benchmark::ConsoleReporter> console_;  // null with --json
};

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_RESULT_TABLE_H_
