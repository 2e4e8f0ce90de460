#include "bench/result_table.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <utility>

namespace ternserve::bench {

double Round(double value, int significant_digits) {
  char rounded[32];
  std::snprintf(rounded, sizeof(rounded), "%.*g", significant_digits, value);
  return std::stod(rounded);
}

int ResultTable::AddRow(nlohmann::ordered_json fields, const std::vector<std::string>& columns) {
  Row row;
  row.values = std::move(fields);
  for (const std::string& column : columns) row.values[column] = nullptr;
  rows_.push_back(std::move(row));
  return static_cast<int>(rows_.size()) - 1;
}

void ResultTable::Bind(const std::string& benchmark_name, int row, const std::string& column,
                       Metric metric, const std::string& variant_field,
                       const std::string& variant) {
  bindings_[benchmark_name] = Binding{row, column, metric, variant_field, variant};
  ++rows_[row].pending;
  ++rows_[row].bound;
  if (!variant_field.empty()) rows_[row].values[variant_field] = nullptr;
}

void ResultTable::SetField(int row, const std::string& field, nlohmann::ordered_json value) {
  rows_[row].values[field] = std::move(value);
}

void ResultTable::AddNote(int row, const std::string& note) {
  nlohmann::ordered_json& notes = rows_[row].values["note"];
  notes = notes.is_string() ? notes.get<std::string>() + "; " + note : note;
}

void ResultTable::AddRatio(int row, const std::string& field, const std::string& numerator,
                           const std::string& denominator, double scale) {
  rows_[row].ratios.push_back(Ratio{field, numerator, denominator, scale});
  rows_[row].values[field] = nullptr;
}

void ResultTable::Report(const benchmark::BenchmarkReporter::Run& run) {
  auto it = bindings_.find(run.run_name.function_name);
  if (it == bindings_.end() || it->second.reported) return;
  Binding& binding = it->second;
  if (run.error_occurred) {  // the column stays null; the note says why
    AddNote(binding.row, run.run_name.function_name + ": " + run.error_message);
    binding.reported = true;
    if (--rows_[binding.row].pending == 0) Print(rows_[binding.row]);
    return;
  }
  // With repetitions, only the median aggregate counts; without, the single iteration run.
  const bool aggregate = run.run_type == benchmark::BenchmarkReporter::Run::RT_Aggregate;
  if (run.repetitions > 1 && !(aggregate && run.aggregate_name == "median")) return;
  double value = 0;
  if (binding.metric == Metric::kGmacs) {
    const auto counter = run.counters.find(kGmacsCounter);
    if (counter == run.counters.end()) return;
    value = counter->second.value;
  } else {
    value = run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit) * 1e3;
  }
  Record(binding, value);
}

void ResultTable::Record(Binding& binding, double value) {
  binding.reported = true;
  Row& row = rows_[binding.row];
  nlohmann::ordered_json& cell = row.values[binding.column];
  const bool better =
      cell.is_null() ||
      (binding.metric == Metric::kGmacs ? value > cell.get<double>() : value < cell.get<double>());
  if (better) {
    cell = Round(value, 4);  // more digits than the run-to-run noise warrants
    if (!binding.variant_field.empty()) row.values[binding.variant_field] = binding.variant;
  }
  if (--row.pending == 0) Print(row);
}

void ResultTable::Print(Row& row) {
  if (row.printed) return;
  row.printed = true;
  for (const Ratio& r : row.ratios) {
    const auto num = row.values.find(r.numerator);
    const auto den = row.values.find(r.denominator);
    if (num == row.values.end() || den == row.values.end() || !num->is_number() ||
        !den->is_number() || den->get<double>() == 0) {
      continue;
    }
    row.values[r.field] = Round(r.scale * num->get<double>() / den->get<double>(), 3);
  }
  if (json_) {
    std::cout << row.values.dump() << std::endl;
    return;
  }
  std::string line;
  for (const auto& [key, value] : row.values.items()) {
    line += key + "=" + (value.is_string() ? value.get<std::string>() : value.dump()) + "  ";
  }
  std::cout << "# " << line << std::endl;
}

void ResultTable::Finish() {
  for (Row& row : rows_) {
    if (row.bound == 0 || row.pending < row.bound) Print(row);
  }
}

TableReporter::TableReporter(ResultTable* table, bool json) : table_(table) {
  table_->set_json(json);
  // Colour only on a terminal, as Google Benchmark's own default reporter does.
  if (!json) {
    console_ = std::make_unique<benchmark::ConsoleReporter>(
        isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Color
                              : benchmark::ConsoleReporter::OO_None);
  }
}

bool TableReporter::ReportContext(const Context& context) {
  return console_ == nullptr || console_->ReportContext(context);
}

void TableReporter::ReportRuns(const std::vector<Run>& runs) {
  if (console_ != nullptr) console_->ReportRuns(runs);
  for (const Run& run : runs) table_->Report(run);
}

void TableReporter::Finalize() {
  if (console_ != nullptr) console_->Finalize();
  table_->Finish();
}

}  // namespace ternserve::bench
