//===- precis-serve.cpp - an HTTP inference service for .precis artifacts ------===//
//
// Serves one function ("forward" by default) of each artifact given with --model over HTTP
// (cpp-httplib), with JSON, .npy or .npz bodies (Codec.h). Requests are decoded and checked
// on the HTTP threads, then queued (WorkQueue.h, bounded: 503 when full) for a fixed pool of
// workers that run the model's shared Session; the HTTP thread waits for its result up to
// the per-request timeout (504). README.md in this directory documents the endpoints, the
// formats, the flags and the error responses.
//
//   precis-serve --model NAME=PATH [--model NAME=PATH ...] [--host H] [--port P]
//                [--function F] [--device cpu|cuda] [--num-threads N] [--workers W]
//                [--queue-capacity Q] [--http-threads T] [--max-body-bytes B]
//                [--timeout-ms MS] [--debug-run-delay-ms MS]
//
// SIGINT / SIGTERM stop it gracefully: no new connections, requests in flight are answered,
// queued jobs run, then it exits 0.
//
//===----------------------------------------------------------------------===//

#include "Codec.h"
#include "WorkQueue.h"

#include "precis/runtime/Session.h"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace precis;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::vector<std::pair<std::string, std::string>> models; // name, path
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string function = "forward";
  std::string device;
  int numThreads = 1;
  int workers = 0; // 0: one per hardware thread
  size_t queueCapacity = 64;
  int httpThreads = 0; // 0: workers + queue capacity + 8
  size_t maxBodyBytes = 64u << 20;
  int timeoutMs = 30000;
  int debugRunDelayMs = 0;
};

const char *kUsage =
    "usage: precis-serve --model NAME=PATH [--model NAME=PATH ...] [--host H] [--port P]\n"
    "                    [--function F] [--device cpu|cuda] [--num-threads N] [--workers W]\n"
    "                    [--queue-capacity Q] [--http-threads T] [--max-body-bytes B]\n"
    "                    [--timeout-ms MS] [--debug-run-delay-ms MS]\n";

/// A model the server runs: one session shared by every worker.
struct Model {
  std::string name, path;
  std::unique_ptr<rt::Session> session;
  const rt::FunctionInfo *signature = nullptr;
};

/// The one place a worker runs a model. Session::run may be called concurrently on one
/// session, so the workers run one model's requests in parallel (each run takes its own
/// activation memory from the session's pool).
rt::Status runModel(Model &model, const std::string &function,
                    const std::vector<rt::Tensor> &inputs, std::vector<rt::Tensor> *outputs) {
  return model.session->run(function, inputs, outputs);
}

/// An inference job between the HTTP thread that waits for it and the worker that runs it.
struct Job {
  std::vector<rt::Tensor> inputs;
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  bool abandoned = false; // the request timed out: a worker that has not started skips it
  rt::Status status;
  std::vector<rt::Tensor> outputs;
  double runMs = 0;
};

const char *errorCode(int status) {
  switch (status) {
  case 400:
    return "invalid_argument";
  case 404:
    return "not_found";
  case 405:
    return "method_not_allowed";
  case 406:
    return "not_acceptable";
  case 413:
    return "payload_too_large";
  case 415:
    return "unsupported_media_type";
  case 503:
    return "unavailable";
  case 504:
    return "deadline_exceeded";
  default:
    return status >= 500 ? "internal" : "bad_request";
  }
}

void sendError(httplib::Response &res, int status, const std::string &message) {
  res.status = status;
  res.set_content(json{{"error", {{"code", errorCode(status)}, {"message", message}}}}.dump(),
                  "application/json");
}

void sendJson(httplib::Response &res, const json &body) {
  res.status = 200;
  res.set_content(body.dump(), "application/json");
}

/// The HTTP status for a runtime error that reached a response.
int httpStatus(const rt::Status &s) {
  switch (s.code()) {
  case rt::StatusCode::InvalidArgument:
    return 400;
  case rt::StatusCode::Unavailable:
    return 503;
  default:
    return 500;
  }
}

bool parseInt(const std::string &text, long long lo, long long hi, long long *out) {
  char *end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end || errno || v < lo || v > hi)
    return false;
  *out = v;
  return true;
}

bool validModelName(const std::string &name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

/// Parses argv into `*o`; false with a message on stderr.
bool parseOptions(int argc, char **argv, Options *o) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "precis-serve: '%s' expects a value\n%s", flag.c_str(), kUsage);
      return false;
    }
    const std::string value = argv[++i];
    long long n = 0;
    auto number = [&](long long lo, long long hi) {
      if (parseInt(value, lo, hi, &n))
        return true;
      std::fprintf(stderr, "precis-serve: %s expects an integer in [%lld, %lld], got '%s'\n",
                   flag.c_str(), lo, hi, value.c_str());
      return false;
    };
    if (flag == "--model") {
      const size_t eq = value.find('=');
      const std::string name = value.substr(0, eq);
      if (eq == std::string::npos || eq + 1 == value.size() || !validModelName(name)) {
        std::fprintf(stderr,
                     "precis-serve: --model expects NAME=PATH with NAME made of letters, "
                     "digits, '_', '-' and '.', got '%s'\n",
                     value.c_str());
        return false;
      }
      for (const auto &m : o->models)
        if (m.first == name) {
          std::fprintf(stderr, "precis-serve: model '%s' is given twice\n", name.c_str());
          return false;
        }
      o->models.emplace_back(name, value.substr(eq + 1));
    } else if (flag == "--host") {
      o->host = value;
    } else if (flag == "--port") {
      if (!number(0, 65535))
        return false;
      o->port = static_cast<int>(n);
    } else if (flag == "--function") {
      o->function = value;
    } else if (flag == "--device") {
      o->device = value;
    } else if (flag == "--num-threads") {
      if (!number(0, 1024))
        return false;
      o->numThreads = static_cast<int>(n);
    } else if (flag == "--workers") {
      if (!number(1, 1024))
        return false;
      o->workers = static_cast<int>(n);
    } else if (flag == "--queue-capacity") {
      if (!number(1, 1 << 20))
        return false;
      o->queueCapacity = static_cast<size_t>(n);
    } else if (flag == "--http-threads") {
      if (!number(1, 4096))
        return false;
      o->httpThreads = static_cast<int>(n);
    } else if (flag == "--max-body-bytes") {
      if (!number(1, 1ll << 40))
        return false;
      o->maxBodyBytes = static_cast<size_t>(n);
    } else if (flag == "--timeout-ms") {
      if (!number(1, 24ll * 3600 * 1000))
        return false;
      o->timeoutMs = static_cast<int>(n);
    } else if (flag == "--debug-run-delay-ms") {
      if (!number(0, 60000))
        return false;
      o->debugRunDelayMs = static_cast<int>(n);
    } else {
      std::fprintf(stderr, "precis-serve: unknown flag '%s'\n%s", flag.c_str(), kUsage);
      return false;
    }
  }
  if (o->models.empty()) {
    std::fprintf(stderr, "precis-serve: give at least one --model NAME=PATH\n%s", kUsage);
    return false;
  }
  if (o->workers == 0)
    o->workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (o->httpThreads == 0)
    o->httpThreads = o->workers + static_cast<int>(std::min<size_t>(o->queueCapacity, 1024)) + 8;
  return true;
}

class Server {
public:
  explicit Server(const Options &options)
      : options_(options), queue_(options.queueCapacity, options.workers) {
    for (const auto &m : options.models) {
      auto model = std::make_unique<Model>();
      model->name = m.first;
      model->path = m.second;
      models_.push_back(std::move(model));
    }
    setUpRoutes();
  }

  httplib::Server &http() { return http_; }

  /// Loads every model; an error names the model and stops the server from becoming ready.
  rt::Status loadModels() {
    rt::SessionOptions sessionOptions;
    sessionOptions.backend = options_.device;
    sessionOptions.numThreads = options_.numThreads;
    for (auto &model : models_) {
      const std::string context = "model '" + model->name + "' (" + model->path + ")";
      PRECIS_RETURN_IF_ERROR(rt::withContext(
          rt::Session::createFromFile(model->path, sessionOptions, &model->session), context));
      model->signature = model->session->findFunction(options_.function);
      if (!model->signature)
        return rt::notFound(context + ": the artifact has no function '" + options_.function + "'");
    }
    ready_ = true;
    return rt::Status::ok();
  }

  /// Stops accepting requests (readiness turns 503 at once; httplib's stop() follows).
  void beginShutdown() { stopping_ = true; }

  /// After the HTTP server has returned from listening: lets the workers finish and joins
  /// them.
  void drain() { queue_.shutdown(); }

private:
  Model *findModel(const std::string &name) {
    for (auto &m : models_)
      if (m->name == name)
        return m.get();
    return nullptr;
  }

  std::string modelNames() const {
    std::string names;
    for (const auto &m : models_)
      names += (names.empty() ? "" : ", ") + m->name;
    return names;
  }

  json describe(const Model &m) const {
    json d = {{"name", m.name}, {"path", m.path}};
    // Signatures are written by loadModels before ready_ is set, and only read after.
    if (ready_ && m.signature)
      d.update(serve::signatureToJson(*m.signature));
    return d;
  }

  /// Answers 405 (with Allow) to every method but `allowed` on `pattern`.
  void allowOnly(const std::string &pattern, const std::string &allowed) {
    auto refuse = [allowed](const httplib::Request &req, httplib::Response &res) {
      res.set_header("Allow", allowed);
      sendError(res, 405, req.method + " is not allowed on " + req.path + "; use " + allowed);
    };
    if (allowed != "GET")
      http_.Get(pattern, refuse);
    if (allowed != "POST")
      http_.Post(pattern, refuse);
    http_.Put(pattern, refuse);
    http_.Patch(pattern, refuse);
    http_.Delete(pattern, refuse);
  }

  void setUpRoutes() {
    http_.Get("/healthz", [](const httplib::Request &, httplib::Response &res) {
      sendJson(res, {{"status", "ok"}});
    });
    http_.Get("/readyz", [this](const httplib::Request &, httplib::Response &res) {
      if (stopping_)
        return sendError(res, 503, "shutting down");
      if (!ready_)
        return sendError(res, 503, "loading models");
      json names = json::array();
      for (const auto &m : models_)
        names.push_back(m->name);
      sendJson(res, {{"status", "ready"}, {"models", names}});
    });
    http_.Get("/v1/models", [this](const httplib::Request &, httplib::Response &res) {
      json list = json::array();
      for (const auto &m : models_)
        list.push_back(describe(*m));
      sendJson(res, {{"models", list}});
    });
    http_.Get(R"(/v1/models/([^/:]+))",
              [this](const httplib::Request &req, httplib::Response &res) {
                const Model *m = findModel(req.matches[1]);
                if (!m)
                  return sendError(res, 404,
                                   "no model '" + std::string(req.matches[1]) +
                                       "' (models: " + modelNames() + ")");
                sendJson(res, describe(*m));
              });
    http_.Post(R"(/v1/models/([^/:]+):predict)",
               [this](const httplib::Request &req, httplib::Response &res) { predict(req, res); });
    for (const char *path : {"/healthz", "/readyz", "/v1/models", R"(/v1/models/([^/:]+))"})
      allowOnly(path, "GET");
    allowOnly(R"(/v1/models/([^/:]+):predict)", "POST");

    // httplib's own errors (404 for an unknown path, 413 from the payload limit, 400 for a
    // malformed request line) get the JSON error body too.
    http_.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request &req, httplib::Response &res) {
          if (!res.body.empty())
            return httplib::Server::HandlerResponse::Unhandled;
          std::string message =
              "the request could not be handled (HTTP " + std::to_string(res.status) + ")";
          if (res.status == 400)
            message = "malformed HTTP request";
          else if (res.status == 404)
            message = "no such endpoint: " + req.method + " " + req.path;
          else if (res.status == 413)
            message = "the request body exceeds the limit of " +
                      std::to_string(options_.maxBodyBytes) + " bytes (--max-body-bytes)";
          sendError(res, res.status, message);
          return httplib::Server::HandlerResponse::Handled;
        }));
    http_.set_exception_handler(
        [](const httplib::Request &, httplib::Response &res, std::exception_ptr ep) {
          std::string what = "unknown exception";
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception &e) {
            what = e.what();
          } catch (...) {
          }
          sendError(res, 500, "internal error: " + what);
        });
    http_.set_payload_max_length(options_.maxBodyBytes);
    http_.set_keep_alive_max_count(1000);
    // Answers are small and written in pieces (headers, body): without TCP_NODELAY a
    // keep-alive client waits out the peer's delayed ACK (~40 ms) on every request.
    http_.set_tcp_nodelay(true);
    const int httpThreads = options_.httpThreads;
    http_.new_task_queue = [httpThreads] { return new httplib::ThreadPool(httpThreads); };
  }

  void queueFull(httplib::Response &res) {
    res.set_header("Retry-After", "1");
    sendError(res, 503,
              stopping_ ? std::string("shutting down")
                        : "the request queue is full (" + std::to_string(queue_.capacity()) +
                              " waiting, --queue-capacity); retry later");
  }

  void predict(const httplib::Request &req, httplib::Response &res) {
    const Clock::time_point start = Clock::now();
    const std::string name = req.matches[1];
    if (stopping_)
      return sendError(res, 503, "shutting down");
    if (!ready_)
      return sendError(res, 503, "not ready: loading models");
    Model *model = findModel(name);
    if (!model)
      return sendError(res, 404, "no model '" + name + "' (models: " + modelNames() + ")");
    // httplib enforces the limit for bodies with a Content-Length; a chunked body is only
    // measured once read.
    if (req.body.size() > options_.maxBodyBytes)
      return sendError(res, 413,
                       "the request body exceeds the limit of " +
                           std::to_string(options_.maxBodyBytes) + " bytes (--max-body-bytes)");
    const std::string contentType = req.get_header_value("Content-Type");
    const std::optional<serve::BodyFormat> in = serve::formatFromContentType(contentType);
    if (!in)
      return sendError(res, 415,
                       "unsupported Content-Type '" + contentType +
                           "': send application/json, application/x-npy or application/x-npz");
    const std::string accept = req.get_header_value("Accept");
    const std::optional<serve::BodyFormat> out = serve::formatFromAccept(accept);
    if (!out)
      return sendError(res, 406,
                       "cannot answer in any type of Accept '" + accept +
                           "': accept application/json, application/x-npy or "
                           "application/x-npz");
    const rt::FunctionInfo &signature = *model->signature;
    if (*out == serve::BodyFormat::Npy && signature.outputs.size() != 1)
      return sendError(res, 406,
                       "model '" + name + "' has " + std::to_string(signature.outputs.size()) +
                           " outputs, which one application/x-npy body cannot hold: accept "
                           "application/x-npz or application/json");

    // Refuse before decoding when the queue is already full (tryPush below decides).
    if (queue_.waiting() >= queue_.capacity())
      return queueFull(res);
    auto job = std::make_shared<Job>();
    if (rt::Status s = serve::decodeInputs(*in, req.body, signature, &job->inputs); !s.isOk())
      return sendError(res, 400, s.message());

    const std::string function = options_.function;
    const int delayMs = options_.debugRunDelayMs;
    const bool queued = queue_.tryPush([job, model, function, delayMs] {
      {
        std::lock_guard<std::mutex> lock(job->mutex);
        if (job->abandoned)
          return;
      }
      const Clock::time_point runStart = Clock::now();
      if (delayMs > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(delayMs));
      std::vector<rt::Tensor> outputs;
      rt::Status status = runModel(*model, function, job->inputs, &outputs);
      const double runMs =
          std::chrono::duration<double, std::milli>(Clock::now() - runStart).count();
      std::lock_guard<std::mutex> lock(job->mutex);
      job->status = std::move(status);
      job->outputs = std::move(outputs);
      job->runMs = runMs;
      job->done = true;
      job->finished.notify_all();
    });
    if (!queued) {
      res.set_header("Retry-After", "1");
      return sendError(res, 503,
                       stopping_
                           ? std::string("shutting down")
                           : "the request queue is full (" + std::to_string(queue_.capacity()) +
                                 " waiting, --queue-capacity); retry later");
    }
    {
      std::unique_lock<std::mutex> lock(job->mutex);
      if (!job->finished.wait_until(lock, start + std::chrono::milliseconds(options_.timeoutMs),
                                    [&] { return job->done; })) {
        job->abandoned = true;
        return sendError(res, 504,
                         "model '" + name + "' did not answer within " +
                             std::to_string(options_.timeoutMs) + " ms (--timeout-ms)");
      }
    }
    if (!job->status.isOk())
      return sendError(res, httpStatus(job->status),
                       "model '" + name + "': " + job->status.message());
    const double latencyMs =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    auto micros = [](double ms) { return std::round(ms * 1000) / 1000; };
    if (*out == serve::BodyFormat::Json) {
      return sendJson(res, {{"model", name},
                            {"outputs", serve::outputsToJson(signature, job->outputs)},
                            {"latency_ms", micros(latencyMs)},
                            {"run_ms", micros(job->runMs)}});
    }
    char latency[32], run[32];
    std::snprintf(latency, sizeof latency, "%.3f", latencyMs);
    std::snprintf(run, sizeof run, "%.3f", job->runMs);
    std::string body;
    if (rt::Status s = serve::encodeOutputs(*out, signature, job->outputs, &body); !s.isOk())
      return sendError(res, 500, "model '" + name + "': " + s.message());
    res.status = 200;
    res.set_header("X-Latency-Ms", latency);
    res.set_header("X-Run-Ms", run);
    res.set_content(std::move(body), serve::mimeType(*out));
  }

  const Options options_;
  std::vector<std::unique_ptr<Model>> models_;
  serve::WorkQueue queue_;
  httplib::Server http_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
};

} // namespace

int main(int argc, char **argv) {
  Options options;
  if (!parseOptions(argc, argv, &options))
    return 2;

  // SIGINT and SIGTERM are taken by one thread with sigwait; every other thread (created
  // below, so inheriting the mask) keeps them blocked. SIGPIPE from a client that went away
  // must not kill the server.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGINT);
  sigaddset(&stopSignals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

  Server server(options);
  httplib::Server &http = server.http();
  int port = options.port;
  if (port == 0)
    port = http.bind_to_any_port(options.host);
  else if (!http.bind_to_port(options.host, port))
    port = -1;
  if (port < 0) {
    std::fprintf(stderr, "precis-serve: cannot listen on %s:%d\n", options.host.c_str(),
                 options.port);
    return 1;
  }

  std::atomic<bool> listenEnded{false};
  std::thread listener([&] {
    if (!http.listen_after_bind())
      std::fprintf(stderr, "precis-serve: the HTTP server stopped with an error\n");
    listenEnded = true;
  });
  // stop() is a no-op until listening has begun; wait for that before anything may call it.
  while (!http.is_running() && !listenEnded)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));

  std::atomic<int> receivedSignal{0};
  std::thread signalWaiter([&] {
    int sig = 0;
    sigwait(&stopSignals, &sig);
    receivedSignal = sig;
    server.beginShutdown();
    http.stop();
  });
  auto stopSignalWaiter = [&] {
    if (receivedSignal == 0)
      pthread_kill(signalWaiter.native_handle(), SIGTERM);
    signalWaiter.join();
  };

  std::printf("precis-serve: listening on http://%s:%d\n", options.host.c_str(), port);
  std::fflush(stdout);

  if (rt::Status s = server.loadModels(); !s.isOk()) {
    std::fprintf(stderr, "precis-serve: error: %s\n", s.message().c_str());
    stopSignalWaiter();
    listener.join();
    server.drain();
    return 1;
  }
  std::printf("precis-serve: ready: %zu model(s), function '%s', %d worker(s), queue %zu, "
              "%d HTTP threads\n",
              options.models.size(), options.function.c_str(), options.workers,
              options.queueCapacity, options.httpThreads);
  std::fflush(stdout);

  listener.join();
  if (receivedSignal == 0) // the HTTP server ended on its own (an error)
    stopSignalWaiter();
  else
    signalWaiter.join();
  server.drain();
  std::printf("precis-serve: stopped (%s)\n", receivedSignal == SIGINT    ? "SIGINT"
                                              : receivedSignal == SIGTERM ? "SIGTERM"
                                                                          : "server error");
  std::fflush(stdout);
  return receivedSignal ? 0 : 1;
}
