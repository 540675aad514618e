/*===- RuntimeCApiTest.c - the C API, from C --------------------------------===*
 *
 * Compiled as C (so precis.h must be valid C): loads the reference artifact from memory and
 * from a file, runs it, checks results, errors and parameters, and releases everything (the
 * ASan build checks for leaks). Prints each failure; exits nonzero if any.
 *
 *===----------------------------------------------------------------------===*/

#include "precis/runtime/precis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *precis_test_make_artifact(size_t *size);

static int failures = 0;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                     \
      ++failures;                                                                                  \
    }                                                                                              \
  } while (0)

/* Checks that `status` is OK; prints and frees it otherwise. */
static int ok(precis_status_t status) {
  if (!status)
    return 1;
  fprintf(stderr, "unexpected error %d: %s\n", (int)precis_status_code(status),
          precis_status_message(status));
  precis_status_free(status);
  ++failures;
  return 0;
}

/* Checks that `status` has `code` and a message containing `text`, and frees it. */
static void expect_error(precis_status_t status, precis_status_code_t code, const char *text) {
  if (!status) {
    fprintf(stderr, "expected error containing '%s', got OK\n", text);
    ++failures;
    return;
  }
  if (precis_status_code(status) != code || !strstr(precis_status_message(status), text)) {
    fprintf(stderr, "expected code %d containing '%s', got %d: %s\n", (int)code, text,
            (int)precis_status_code(status), precis_status_message(status));
    ++failures;
  }
  precis_status_free(status);
}

static const float kW[8] = {1, -2, 3, -4, 0.5f, -0.5f, 2, -1};
static const float kB[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};

static void check_forward(precis_session_t *session, float w_offset) {
  float x[8] = {0.5f, 1, -4, 5, -1, 2, -2, 0};
  int64_t shape[2] = {2, 4};
  precis_tensor_t input = {PRECIS_DTYPE_F32, 2, shape, x, sizeof x};
  precis_tensor_t *outputs = NULL;
  size_t num_outputs = 0;
  if (!ok(precis_session_run(session, "forward", &input, 1, &outputs, &num_outputs)))
    return;
  CHECK(num_outputs == 2);
  CHECK(outputs[0].dtype == PRECIS_DTYPE_F32 && outputs[0].rank == 2);
  CHECK(outputs[0].shape[0] == 2 && outputs[0].shape[1] == 4);
  CHECK(outputs[0].byte_size == 32);
  CHECK(outputs[1].shape[0] == 2 && outputs[1].shape[1] == 3);
  const float *y = (const float *)outputs[0].data;
  const float *z = (const float *)outputs[1].data;
  for (int i = 0; i < 8; ++i) {
    float expect = x[i] + kW[i] + w_offset;
    CHECK(y[i] == (expect > 0 ? expect : 0));
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      float acc = 0;
      for (int k = 0; k < 4; ++k)
        acc += y[i * 4 + k] * kB[k * 3 + j];
      CHECK(fabsf(z[i * 3 + j] - acc) <= 1e-6f * (1 + fabsf(acc)));
    }
  precis_tensors_free(outputs, num_outputs);
}

int main(void) {
  size_t size = 0;
  void *bytes = precis_test_make_artifact(&size);

  /* From memory; the buffer may be freed right after. */
  precis_session_options_t options;
  precis_session_options_init(&options);
  options.num_threads = 1;
  precis_session_t *session = NULL;
  if (!ok(precis_session_create_from_memory(bytes, size, &options, &session)))
    return 1;

  /* Introspection. */
  CHECK(precis_session_function_count(session) == 2);
  CHECK(strcmp(precis_session_function_name(session, 0), "forward") == 0);
  CHECK(precis_session_function_name(session, 2) == NULL);
  size_t num_inputs = 0, num_outputs = 0;
  ok(precis_session_function_signature(session, "forward", &num_inputs, &num_outputs));
  CHECK(num_inputs == 1 && num_outputs == 2);
  precis_value_info_t info;
  if (ok(precis_session_input_info(session, "forward", 0, &info)))
    CHECK(strcmp(info.name, "x") == 0 && info.dtype == PRECIS_DTYPE_F32 && info.rank == 2 &&
          info.shape[1] == 4);
  if (ok(precis_session_output_info(session, "forward", 1, &info)))
    CHECK(strcmp(info.name, "z") == 0 && info.shape[1] == 3);
  expect_error(precis_session_output_info(session, "forward", 2, &info), PRECIS_INVALID_ARGUMENT,
               "out of range");
  expect_error(precis_session_function_signature(session, "nope", NULL, NULL), PRECIS_NOT_FOUND,
               "no function 'nope'");
  CHECK(precis_session_parameter_count(session) == 2);
  if (ok(precis_session_parameter_info(session, 1, &info)))
    CHECK(strcmp(info.name, "b") == 0);
  CHECK(precis_session_arena_bytes(session) == 192);
  CHECK(precis_session_parameter_bytes(session) == 80);
  CHECK(precis_dtype_size(PRECIS_DTYPE_BF16) == 2);
  CHECK(strcmp(precis_dtype_name(PRECIS_DTYPE_F32), "f32") == 0);
  CHECK(precis_dtype_size((precis_dtype_t)42) == 0);

  check_forward(session, 0);

  /* Input errors. */
  {
    float x[6] = {0};
    int64_t shape[2] = {2, 3};
    precis_tensor_t input = {PRECIS_DTYPE_F32, 2, shape, x, sizeof x};
    precis_tensor_t *outputs = NULL;
    expect_error(precis_session_run(session, "forward", &input, 1, &outputs, &num_outputs),
                 PRECIS_INVALID_ARGUMENT, "input 'x' expects f32[2,4], got f32[2,3]");
    input.byte_size = 23;
    expect_error(precis_session_run(session, "forward", &input, 1, &outputs, &num_outputs),
                 PRECIS_INVALID_ARGUMENT, "byte_size is 23, but f32[2,3] has 24 bytes");
    input.dtype = (precis_dtype_t)77;
    expect_error(precis_session_run(session, "forward", &input, 1, &outputs, &num_outputs),
                 PRECIS_INVALID_ARGUMENT, "unknown dtype 77");
    expect_error(precis_session_run(session, "forward", NULL, 0, &outputs, &num_outputs),
                 PRECIS_INVALID_ARGUMENT, "takes 1 inputs, got 0");
    expect_error(precis_session_run(session, "forward", NULL, 1, &outputs, &num_outputs),
                 PRECIS_INVALID_ARGUMENT, "inputs is NULL");
    expect_error(precis_session_run(NULL, "forward", NULL, 0, &outputs, &num_outputs),
                 PRECIS_INVALID_ARGUMENT, "session is NULL");
    CHECK(outputs == NULL);
  }

  /* Parameters: read, overwrite, read back, run. */
  {
    precis_tensor_t *w = NULL;
    if (ok(precis_session_get_parameter(session, "w", &w))) {
      CHECK(w->rank == 2 && w->byte_size == 32 && memcmp(w->data, kW, 32) == 0);
      float *data = (float *)w->data;
      for (int i = 0; i < 8; ++i)
        data[i] += 1.0f;
      ok(precis_session_set_parameter(session, "w", w));
      precis_tensors_free(w, 1);
    }
    check_forward(session, 1.0f);
    expect_error(precis_session_get_parameter(session, "v", &w), PRECIS_NOT_FOUND,
                 "no parameter 'v'");
    float small[2] = {0};
    int64_t shape[1] = {2};
    precis_tensor_t bad = {PRECIS_DTYPE_F32, 1, shape, small, sizeof small};
    expect_error(precis_session_set_parameter(session, "w", &bad), PRECIS_INVALID_ARGUMENT,
                 "parameter 'w' is f32[2,4], got f32[2]");
  }
  precis_session_release(session);

  /* From a file, with copied parameters. */
  {
    char path[] = "/tmp/precis_capi_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, bytes, size) == (ssize_t)size);
    close(fd);
    options.copy_parameters = 1;
    session = NULL;
    if (ok(precis_session_create_from_file(path, &options, &session))) {
      check_forward(session, 0);
      precis_session_release(session);
    }
    unlink(path);
    expect_error(precis_session_create_from_file(path, NULL, &session), PRECIS_NOT_FOUND,
                 "cannot open artifact");
  }

  /* A corrupt artifact. */
  ((unsigned char *)bytes)[8] = 9;
  session = NULL;
  expect_error(precis_session_create_from_memory(bytes, size, NULL, &session),
               PRECIS_INVALID_ARTIFACT, "format version 9");
  CHECK(session == NULL);
  free(bytes);

  /* NULL status handles are OK. */
  CHECK(precis_status_code(NULL) == PRECIS_OK);
  CHECK(strcmp(precis_status_message(NULL), "") == 0);
  precis_status_free(NULL);
  precis_session_release(NULL);
  precis_tensors_free(NULL, 0);

  if (failures)
    fprintf(stderr, "%d failures\n", failures);
  else
    printf("C API test passed\n");
  return failures ? 1 : 0;
}
