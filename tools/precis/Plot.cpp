//===- Plot.cpp - precis plot -----------------------------------------------===//
//
// `precis plot a.jsonl [b.jsonl ...] -o curves.html|curves.png`: the loss curves of training
// runs (`precis train --log`, `precis-rt train --log`) overlaid on one page, with the loss
// scale of fp16 runs and their skipped steps marked. Every line of every log is checked
// before anything is written; a bad one is named by file and line.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace llvm;

namespace precis::driver {

namespace {

/// Reads one log into `*run` ({"label", "file", "steps": [[step, loss|null, scale|null,
/// skipped], ...]}); false after printing a located error.
bool readLog(StringRef path, StringRef label, StringRef tool, json::Object *run) {
  auto fail = [&](unsigned line, const Twine &message) {
    errs() << path;
    if (line)
      errs() << ":" << line;
    errs() << ": error: " << message << "\n";
    return false;
  };
  ErrorOr<std::unique_ptr<MemoryBuffer>> file = MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!file) {
    errs() << tool << ": error: cannot read '" << path << "': " << file.getError().message()
           << "\n";
    return false;
  }
  StringRef text = (*file)->getBuffer();
  if (text.trim().empty())
    return fail(0, "no steps: the file is empty (a log of precis train --log has one JSON "
                   "object per step)");
  json::Array steps;
  std::optional<int64_t> previous;
  std::optional<double> previousScale;
  unsigned number = 0;
  while (!text.empty()) {
    auto [line, rest] = text.split('\n');
    text = rest;
    ++number;
    line = line.rtrim("\r");
    if (line.trim().empty()) {
      if (text.empty())
        break; // the file's last newline
      return fail(number, "empty line (expected one JSON object per step)");
    }
    Expected<json::Value> parsed = json::parse(line);
    if (!parsed)
      return fail(number, "malformed JSON: " + toString(parsed.takeError()));
    const json::Object *entry = parsed->getAsObject();
    if (!entry)
      return fail(number, "expected a JSON object ({\"step\": k, \"loss\": x})");
    std::optional<int64_t> step = entry->getInteger("step");
    if (!step)
      return fail(number, "'step' is missing or not an integer");
    if (previous && *step <= *previous)
      return fail(number, formatv("step {0} does not follow step {1} (one run per file, steps "
                                  "increasing)",
                                  *step, *previous));
    previous = step;
    const json::Value *loss = entry->get("loss");
    if (!loss || (!loss->getAsNull() && !loss->getAsNumber()))
      return fail(number, "'loss' is missing or not a number (or null, for a non-finite loss)");
    json::Value scale = nullptr;
    if (const json::Value *s = entry->get("loss_scale")) {
      std::optional<double> value = s->getAsNumber();
      if (!value || !(*value > 0))
        return fail(number, "'loss_scale' is not a positive number");
      scale = *value;
    }
    // A skipped step: the log says so, or (older logs) the scale halved, which GradScaler
    // does exactly when it skips a step.
    bool skipped = false;
    if (const json::Value *s = entry->get("skipped")) {
      std::optional<bool> value = s->getAsBoolean();
      if (!value)
        return fail(number, "'skipped' is not a boolean");
      skipped = *value;
    } else if (std::optional<double> now = scale.getAsNumber(); now && previousScale) {
      skipped = *now < *previousScale;
    }
    previousScale = scale.getAsNumber();
    steps.push_back(json::Array{*step, *loss, std::move(scale), skipped});
  }
  *run = json::Object{{"label", label.str()}, {"file", path.str()}, {"steps", std::move(steps)}};
  return true;
}

} // namespace

int runPlot(int argc, char **argv) {
  static cl::list<std::string> logs(cl::Positional, cl::OneOrMore,
                                    cl::desc("<losses.jsonl> [more.jsonl ...]"),
                                    cl::cat(optionCategory()));
  static cl::opt<std::string> output("o",
                                     cl::desc("The page: .html, or .png (a screenshot "
                                              "of it, by headless Chromium)"),
                                     cl::value_desc("curves.html"), cl::cat(optionCategory()));
  static cl::list<std::string> labels(
      "label",
      cl::desc("Name of a run in the legend, in the order of the logs (default: the "
               "file's name)"),
      cl::value_desc("name"), cl::cat(optionCategory()));
  static cl::opt<std::string> title("title", cl::desc("Title of the page"),
                                    cl::init("training loss"), cl::cat(optionCategory()));
  parseCommandLine(argc, argv,
                   "precis plot: the loss curves of training logs (precis train --log), "
                   "overlaid\n");
  const char *tool = "precis plot";
  if (output.empty()) {
    errs() << tool << ": error: -o is required (curves.html or curves.png)\n";
    return 1;
  }
  StringRef extension = sys::path::extension(output);
  if (!extension.equals_insensitive(".html") && !extension.equals_insensitive(".htm") &&
      !extension.equals_insensitive(".png")) {
    errs() << tool << ": error: -o " << output << ": expected a .html or .png file\n";
    return 1;
  }
  if (labels.size() > logs.size()) {
    errs() << tool << ": error: " << labels.size() << " --label for " << logs.size() << " logs\n";
    return 1;
  }
  json::Array runs;
  for (auto [i, path] : llvm::enumerate(logs)) {
    std::string label = i < labels.size() ? labels[i] : sys::path::stem(path).str();
    json::Object run;
    if (!readLog(path, label, tool, &run))
      return 1;
    runs.push_back(std::move(run));
  }
  json::Object data{{"title", title.getValue()}, {"runs", std::move(runs)}};
  return writePage(output, PageKind::Plot, json::Value(std::move(data)), tool) ? 0 : 1;
}

} // namespace precis::driver
