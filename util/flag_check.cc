#include "util/flag_check.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace ternserve {

bool PrevalidateFlags(int argc, char** argv, const std::string& program,
                      const std::string& own_file) {
  // Handled by ParseCommandLine itself; not in the flag registry.
  static const char* const kUsageFlags[] = {"help",        "helpfull", "helpshort",
                                            "helppackage", "version",  "only_check_args",
                                            "helpmatch",   "helpon"};
  const char* const prog = program.c_str();
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    arg = arg.substr(arg.rfind("--", 0) == 0 ? 2 : 1);
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    if (std::find(std::begin(kUsageFlags), std::end(kUsageFlags), name) != std::end(kUsageFlags)) {
      continue;
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    bool negated = false;
    if (flag == nullptr && name.rfind("no", 0) == 0) {
      flag = absl::FindCommandLineFlag(name.substr(2));
      negated = flag != nullptr && flag->IsOfType<bool>();
      if (!negated) flag = nullptr;
    }
    if (flag == nullptr) {
      std::fprintf(stderr, "%s: unknown flag --%s\n", prog, name.c_str());
      ok = false;
      continue;
    }
    if (flag->Filename().find(own_file) == std::string::npos) continue;  // absl's own flags
    if (eq == std::string::npos && flag->IsOfType<bool>()) continue;     // --json, --nojson
    if (negated) {
      std::fprintf(stderr, "%s: --%s takes no value\n", prog, name.c_str());
      ok = false;
      continue;
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "%s: --%s needs a value\n", prog, name.c_str());
      ok = false;
      continue;
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      std::fprintf(stderr, "%s: --%s=%s: %s\n", prog, name.c_str(), value.c_str(), error.c_str());
      ok = false;
    }
  }
  return ok;
}

bool PrintHelpIfAsked(int argc, char** argv, const std::string& own_file) {
  bool asked = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    asked = asked || arg == "--help" || arg == "-help" || arg == "-h";
  }
  if (!asked) return false;
  std::printf("%s\n\nFlags:\n", std::string(absl::ProgramUsageMessage()).c_str());
  std::map<std::string, const absl::CommandLineFlag*> ours;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (flag->Filename().find(own_file) != std::string::npos) ours[std::string(name)] = flag;
  }
  for (const auto& [name, flag] : ours) {
    std::printf("  --%s (default: %s)\n      %s\n", name.c_str(), flag->DefaultValue().c_str(),
                flag->Help().c_str());
  }
  return true;
}

void SetUsage(const std::string& own_file, const std::string& usage_message,
              const std::string& version) {
  absl::FlagsUsageConfig config;
  config.contains_help_flags = [own_file](absl::string_view path) {
    return absl::EndsWith(path, own_file);
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  if (!version.empty()) config.version_string = [version] { return version + "\n"; };
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(usage_message);
}

}  // namespace ternserve
