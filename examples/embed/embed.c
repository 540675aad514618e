/* embed.c - the precis runtime from C: load an artifact, run a function, train a few steps.
 *
 *   embed_c model.precis data.npz [steps]
 *
 * model.precis is compiled with `precis compile model.onnx --train -o model.precis`; data.npz
 * holds one array per batch input of the model, rows first (examples/mlp/data.npz). Prints
 * the outputs of `forward` on inputs made up here, then the loss of each training step
 * (plain SGD, lr 0.1) on the data set's batches in order. Exit code 1 on any error.
 */
#include <precis/runtime/precis.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints and frees `status` and returns 1 when it is an error; else 0. */
static int failed(precis_status_t status, const char *what) {
  if (!status)
    return 0;
  fprintf(stderr, "embed_c: %s: %s\n", what, precis_status_message(status));
  precis_status_free(status);
  return 1;
}

/* Inputs for `forward`: floats sin(i) / 2, integers i % 2 (class labels of any classifier). */
static int make_inputs(const precis_session_t *session, precis_tensor_t *inputs, size_t n) {
  for (size_t k = 0; k < n; ++k) {
    precis_value_info_t info;
    if (failed(precis_session_input_info(session, "forward", k, &info), "input_info"))
      return 1;
    size_t count = 1;
    for (size_t d = 0; d < info.rank; ++d)
      count *= (size_t)info.shape[d];
    const size_t bytes = count * precis_dtype_size(info.dtype);
    void *data = malloc(bytes ? bytes : 1);
    if (!data)
      return 1;
    for (size_t i = 0; i < count; ++i) {
      if (info.dtype == PRECIS_DTYPE_F32)
        ((float *)data)[i] = sinf((float)i) / 2;
      else if (info.dtype == PRECIS_DTYPE_I64)
        ((int64_t *)data)[i] = (int64_t)(i % 2);
      else {
        fprintf(stderr, "embed_c: input %s is %s; this example makes f32 and i64 only\n", info.name,
                precis_dtype_name(info.dtype));
        free(data);
        return 1;
      }
    }
    precis_tensor_t t = {info.dtype, info.rank, info.shape, data, bytes};
    inputs[k] = t;
  }
  return 0;
}

static int run_forward(const char *artifact) {
  precis_session_options_t options;
  precis_session_options_init(&options);
  precis_session_t *session = NULL;
  if (failed(precis_session_create_from_file(artifact, &options, &session), artifact))
    return 1;
  size_t num_inputs = 0, num_outputs = 0;
  int rc = failed(precis_session_function_signature(session, "forward", &num_inputs, &num_outputs),
                  "forward");
  precis_tensor_t *inputs = rc ? NULL : calloc(num_inputs ? num_inputs : 1, sizeof *inputs);
  precis_tensor_t *outputs = NULL;
  size_t n = 0;
  if (!rc)
    rc = !inputs || make_inputs(session, inputs, num_inputs);
  if (!rc)
    rc = failed(precis_session_run(session, "forward", inputs, num_inputs, &outputs, &n), "run");
  for (size_t k = 0; !rc && k < n; ++k) {
    precis_value_info_t info;
    rc = failed(precis_session_output_info(session, "forward", k, &info), "output_info");
    if (!rc && outputs[k].dtype == PRECIS_DTYPE_F32 && outputs[k].byte_size >= sizeof(float))
      printf("forward output %s: %s, first value %.7g\n", info.name,
             precis_dtype_name(outputs[k].dtype), ((const float *)outputs[k].data)[0]);
  }
  precis_tensors_free(outputs, n);
  for (size_t k = 0; inputs && k < num_inputs; ++k)
    free(inputs[k].data);
  free(inputs);
  precis_session_release(session);
  return rc;
}

static int train(const char *artifact, const char *data, int steps) {
  precis_training_session_t *session = NULL;
  if (failed(precis_training_session_create_from_file(artifact, NULL, &session), artifact))
    return 1;
  int rc = failed(precis_training_session_open_data(session, data, -1), data);
  for (int step = 0; !rc && step < steps; ++step) {
    float loss = 0;
    rc = failed(precis_training_session_step_next(session, 0.1f, &loss), "step");
    if (!rc)
      printf("train step %d loss %.7g\n", step, loss);
  }
  precis_training_session_release(session);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: embed_c model.precis data.npz [steps]\n");
    return 2;
  }
  const int steps = argc > 3 ? atoi(argv[3]) : 20;
  if (run_forward(argv[1]) || train(argv[1], argv[2], steps))
    return 1;
  return 0;
}
