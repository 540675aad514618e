//===- Html.cpp - self-contained pages and their screenshots ----------------===//
//
// `precis report --html` and `precis plot` write one HTML file each: a template from
// tools/precis/html/ (embedded at build time, so the binary needs no data files) with the
// page's data spliced in as JSON. The pages fetch nothing; their script lays out and draws
// everything itself. A `.png` is that page rendered by headless Chromium.
//
//===----------------------------------------------------------------------===//

#include "Driver.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

namespace precis::driver {

namespace {

const char kReportTemplate[] =
#include "ReportHtml.inc"
    ;
const char kPlotTemplate[] =
#include "PlotHtml.inc"
    ;
const char kStatusScript[] =
#include "StatusHtml.inc"
    ;

/// Where the data goes: the whole text of the template's <script type="application/json">.
constexpr StringLiteral kPlaceholder = "@PRECIS_DATA@";
/// Where the status script (html/status.js) goes, first in the page's <head>.
constexpr StringLiteral kStatusPlaceholder = "@PRECIS_STATUS_SCRIPT@";

/// Removes a temporary file or directory when it goes out of scope.
struct TempPath {
  SmallString<128> path;
  bool directory = false;
  ~TempPath() {
    if (!path.empty())
      directory ? (void)sys::fs::remove_directories(path) : (void)sys::fs::remove(path);
  }
};

/// `name` in the system's temporary directory.
std::string tempPrefix(StringRef name) {
  SmallString<128> path;
  sys::path::system_temp_directory(/*ErasedOnReboot=*/true, path);
  sys::path::append(path, name);
  return path.str().str();
}

} // namespace

std::string fillPage(PageKind kind, const json::Value &data) {
  StringRef page = kind == PageKind::Report ? StringRef(kReportTemplate) : StringRef(kPlotTemplate);
  // `<` appears in JSON only inside strings, where \u003c means the same; written out it
  // could close the <script> element the data sits in (a node named "</script>").
  std::string json;
  raw_string_ostream os(json);
  os << data;
  std::string safe;
  safe.reserve(json.size());
  for (char c : json) {
    if (c == '<')
      safe += "\\u003c";
    else
      safe += c;
  }
  size_t status = page.find(kStatusPlaceholder);
  size_t at = page.find(kPlaceholder);
  assert(status != StringRef::npos && at != StringRef::npos && status < at &&
         "page template without its placeholders");
  return (page.take_front(status) + kStatusScript +
          page.slice(status + kStatusPlaceholder.size(), at) + safe +
          page.drop_front(at + kPlaceholder.size()))
      .str();
}

bool writeFile(StringRef path, StringRef bytes, StringRef tool) {
  // writeToOutput writes a temporary file next to `path` and renames it: a failure leaves
  // no partial file.
  if (Error err = writeToOutput(path, [&](raw_ostream &os) {
        os << bytes;
        return Error::success();
      })) {
    errs() << tool << ": error: cannot write '" << path << "': " << toString(std::move(err))
           << "\n";
    return false;
  }
  return true;
}

bool writePage(StringRef path, PageKind kind, const json::Value &data, StringRef tool) {
  std::string page = fillPage(kind, data);
  if (!StringRef(path).ends_with_insensitive(".png"))
    return writeFile(path, page, tool);

  // A screenshot: Chromium renders the page from a temporary file into a temporary PNG,
  // which is then written to `path` as any other output is.
  std::string chromium;
  if (std::optional<std::string> env = sys::Process::GetEnv("PRECIS_CHROMIUM");
      env && !env->empty())
    chromium = *env;
  else
    for (StringRef name : {"chromium", "chromium-browser", "google-chrome"})
      if (ErrorOr<std::string> found = sys::findProgramByName(name)) {
        chromium = *found;
        break;
      }
  if (chromium.empty()) {
    errs() << tool << ": error: writing '" << path
           << "' needs Chromium to render the page (Debian: apt-get install chromium; or set "
              "PRECIS_CHROMIUM); write .html instead\n";
    return false;
  }
  TempPath html, png, log, profile;
  profile.directory = true;
  if (std::error_code ec = sys::fs::createTemporaryFile("precis-page", "html", html.path)) {
    errs() << tool << ": error: cannot create a temporary file: " << ec.message() << "\n";
    return false;
  }
  if (!writeFile(html.path, page, tool))
    return false;
  if (std::error_code ec = sys::fs::createTemporaryFile("precis-page", "png", png.path);
      ec || (ec = sys::fs::createTemporaryFile("precis-chromium", "log", log.path)) ||
      (ec = sys::fs::createUniqueDirectory(tempPrefix("precis-chromium"), profile.path))) {
    errs() << tool << ": error: cannot create a temporary file: " << ec.message() << "\n";
    return false;
  }
  SmallString<128> absolute(html.path);
  sys::fs::make_absolute(absolute);
  // --no-sandbox: the page is ours and fetches nothing, and Chromium's sandbox refuses to
  // start as root, where CI runs.
  // A profile of its own, so that runs in parallel do not share one.
  std::string screenshot = "--screenshot=" + png.path.str().str();
  std::string userData = "--user-data-dir=" + profile.path.str().str();
  std::string url = "file://" + absolute.str().str();
  SmallVector<StringRef> args = {chromium,
                                 "--headless",
                                 "--no-sandbox",
                                 "--disable-gpu",
                                 "--hide-scrollbars",
                                 "--window-size=1280,800",
                                 "--virtual-time-budget=10000",
                                 userData,
                                 screenshot,
                                 url};
  std::optional<StringRef> redirects[] = {StringRef(""), StringRef(log.path), StringRef(log.path)};
  std::string message;
  int rc = sys::ExecuteAndWait(chromium, args, std::nullopt, redirects, /*SecondsToWait=*/120,
                               /*MemoryLimit=*/0, &message);
  ErrorOr<std::unique_ptr<MemoryBuffer>> shot = MemoryBuffer::getFile(png.path);
  if (rc != 0 || !shot || (*shot)->getBuffer().size() < 8 ||
      !(*shot)->getBuffer().starts_with("\x89PNG")) {
    std::string output;
    if (ErrorOr<std::unique_ptr<MemoryBuffer>> text = MemoryBuffer::getFile(log.path))
      output = (*text)->getBuffer().take_back(2000).str();
    errs()
        << tool << ": error: " << chromium << " could not render '" << path << "'"
        << (rc != 0
                ? formatv(" (exit code {0}{1}{2})", rc, message.empty() ? "" : ": ", message).str()
                : std::string())
        << (output.empty() ? "" : ":\n") << output << "\n";
    return false;
  }
  return writeFile(path, (*shot)->getBuffer(), tool);
}

} // namespace precis::driver
