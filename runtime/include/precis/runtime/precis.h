/*===- precis.h - C API of the precis runtime -----------------------------===*
 *
 * Loads .precis artifacts and runs their functions; usable from C99 and C++. A thin layer over
 * the C++ Session (Session.h); see docs/runtime.md for an embedding example.
 *
 * Errors: every call that can fail returns a precis_status_t. NULL means success; anything
 * else is an error the caller owns and must release with precis_status_free, after reading
 * precis_status_code and precis_status_message. Out-parameters are written only on success.
 *
 * Ownership, in general: pointers passed in are borrowed for the duration of the call only;
 * objects returned through `out_*` parameters are owned by the caller and released with the
 * function named in their documentation; `const char *` and precis_value_info_t results are
 * borrowed from the session and stay valid until it is released.
 *
 * Thread-safety (as for the C++ Session):
 *   - precis_session_run may be called concurrently from any number of threads on one session:
 *     runs share the weights, and each takes an activation arena of its own from a pool the
 *     session keeps (at most one per hardware thread is kept between runs). The cuda backend
 *     serialises concurrent runs. Each run uses up to num_threads kernel threads, so many
 *     concurrent callers usually want num_threads = 1.
 *   - The functions taking a `const precis_session_t *` may overlap each other and runs.
 *   - precis_session_set_parameter changes the session: it must not overlap any other call on
 *     that session, runs included; neither may precis_session_release.
 *   - A training session is not thread-safe: calls on one must not overlap.
 * Distinct sessions are independent and may be used from different threads concurrently.
 * Status and tensor functions are thread-safe on distinct objects.
 *
 *===----------------------------------------------------------------------===*/

#ifndef PRECIS_RUNTIME_PRECIS_H
#define PRECIS_RUNTIME_PRECIS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*===-------------------------------------------------------------------===*
 * Status
 *===-------------------------------------------------------------------===*/

typedef enum precis_status_code_e {
  PRECIS_OK = 0,
  PRECIS_INVALID_ARGUMENT = 1, /* bad caller input: shapes, dtypes, names */
  PRECIS_INVALID_ARTIFACT = 2, /* a corrupt, truncated or incompatible artifact */
  PRECIS_NOT_FOUND = 3,        /* a file, function or parameter that does not exist */
  PRECIS_UNIMPLEMENTED = 4,    /* a kernel or dtype combination the backend lacks */
  PRECIS_INTERNAL = 5,         /* a bug, a failing backend library, out of memory */
  PRECIS_UNAVAILABLE = 6,      /* a missing device, driver or backend */
  PRECIS_IO_ERROR = 7,         /* reading or writing files */
  PRECIS_NON_FINITE = 8,       /* check_numerics: an op produced a NaN or an infinity */
} precis_status_code_t;

/* An error; NULL is success. */
typedef struct precis_status_s *precis_status_t;

/* The code of `status`; PRECIS_OK for NULL. */
precis_status_code_t precis_status_code(precis_status_t status);
/* The message of `status`, borrowed until precis_status_free; "" for NULL. */
const char *precis_status_message(precis_status_t status);
/* Releases `status`; NULL is allowed. */
void precis_status_free(precis_status_t status);

/*===-------------------------------------------------------------------===*
 * Tensors
 *===-------------------------------------------------------------------===*/

/* Element types; values match the artifact schema's DType. A fixed-size integer (not the enum
 * type) in structs and signatures, so the ABI does not depend on the compiler's enum size and
 * any value a caller stores can be checked. */
typedef int32_t precis_dtype_t;
enum precis_dtype_e {
  PRECIS_DTYPE_UNSPECIFIED = 0,
  PRECIS_DTYPE_F32 = 1,
  PRECIS_DTYPE_F16 = 2,
  PRECIS_DTYPE_BF16 = 3,
  PRECIS_DTYPE_F8E4M3FN = 4,
  PRECIS_DTYPE_F8E5M2 = 5,
  PRECIS_DTYPE_F64 = 6,
  PRECIS_DTYPE_I64 = 7,
  PRECIS_DTYPE_I32 = 8,
  PRECIS_DTYPE_I8 = 9,
  PRECIS_DTYPE_U8 = 10,
  PRECIS_DTYPE_BOOL = 11, /* one byte per element, 0 or 1 */
};

/* Bytes per element (0 for unknown types). */
size_t precis_dtype_size(precis_dtype_t dtype);
/* "f32", "bf16", ...; a static string. */
const char *precis_dtype_name(precis_dtype_t dtype);

/* A dense, row-major, little-endian tensor. The struct owns nothing by itself: tensors the
 * caller passes in (inputs, new parameter values) point at caller memory, borrowed for the
 * call; tensors the runtime returns (run outputs, parameters) point at memory the runtime
 * allocated for the caller, released with precis_tensors_free. */
typedef struct precis_tensor_t {
  precis_dtype_t dtype;
  size_t rank;
  const int64_t *shape; /* `rank` dimensions; may be NULL when rank is 0 */
  void *data;           /* `byte_size` bytes; may be NULL when byte_size is 0 */
  size_t byte_size;     /* product(shape) * precis_dtype_size(dtype) */
} precis_tensor_t;

/* Releases `count` tensors returned by the runtime, with their shapes and data, and the
 * array itself. NULL is allowed. Never pass caller-built tensors. */
void precis_tensors_free(precis_tensor_t *tensors, size_t count);

/*===-------------------------------------------------------------------===*
 * Communicators (data-parallel training; Communicator.h)
 *===-------------------------------------------------------------------===*/

/* The processes of a data-parallel job. Owned by the caller, released with
 * precis_communicator_destroy; a session given one in its options keeps it alive for as long
 * as it needs it. Calls on one communicator must not overlap. */
typedef struct precis_communicator_s precis_communicator_t;

/* The world of an MPI job (processes started by mpirun; without a launcher, a world of one).
 * Collective: every process of the job calls it. The first call initialises MPI (finalised at
 * exit). PRECIS_UNAVAILABLE when the runtime was built without MPI. */
precis_status_t precis_communicator_create_mpi(precis_communicator_t **out_communicator);
/* NCCL over the same processes as `bootstrap` (an MPI communicator, over which rank 0's NCCL
 * id is sent), on CUDA device `device` of this process; its collectives take device memory.
 * Collective. PRECIS_UNAVAILABLE without libnccl.so.2 or a CUDA device. */
precis_status_t precis_communicator_create_nccl(const precis_communicator_t *bootstrap,
                                                int32_t device,
                                                precis_communicator_t **out_communicator);
/* This process's index in [0, size) and the number of processes; 0 and 1 for NULL. */
int32_t precis_communicator_rank(const precis_communicator_t *communicator);
int32_t precis_communicator_size(const precis_communicator_t *communicator);
/* Releases the caller's reference; NULL is allowed. */
void precis_communicator_destroy(precis_communicator_t *communicator);

/*===-------------------------------------------------------------------===*
 * Sessions
 *===-------------------------------------------------------------------===*/

/* Fields are only ever added at the end, and precis_session_options_init sets each to its
 * default. The struct's size changes when one is added (`communicator` in 0.1): a program is
 * compiled against the headers of the runtime it runs with. */
typedef struct precis_session_options_t {
  const char *backend;     /* "cpu", "cuda", or NULL / "" (the default): the backend the
                            * artifact was compiled for. "cuda" without a usable device is
                            * PRECIS_UNAVAILABLE ("no CUDA device: ...") */
  int32_t num_threads;     /* kernel threads; 0 (default) = one per hardware thread */
  int32_t copy_parameters; /* nonzero: copy all parameters into writable memory at creation */
  int32_t check_numerics;  /* nonzero: fail a run at the first op whose float output has a NaN
                            * or an infinity (PRECIS_NON_FINITE, naming the op); see
                            * SessionOptions::checkNumerics */
  precis_communicator_t *communicator; /* the processes the session's collectives run across
                                        * (borrowed for the create call; the session keeps
                                        * what it needs); NULL (default): a world of one */
} precis_session_options_t;

/* Fills `options` with the defaults. Call it before setting fields, so that fields added in
 * later versions get their defaults. */
void precis_session_options_init(precis_session_options_t *options);

/* A loaded artifact bound to a backend, with a pool of activation arenas for its runs. */
typedef struct precis_session_s precis_session_t;

/* Loads and validates the artifact at `path` (memory-mapped: the file must not change while
 * the session lives). `options` may be NULL for the defaults. On success `*out_session` is
 * owned by the caller; release it with precis_session_release. */
precis_status_t precis_session_create_from_file(const char *path,
                                                const precis_session_options_t *options,
                                                precis_session_t **out_session);
/* As above, from `size` bytes at `data`, which are copied: the caller may free them when the
 * call returns. */
precis_status_t precis_session_create_from_memory(const void *data, size_t size,
                                                  const precis_session_options_t *options,
                                                  precis_session_t **out_session);
/* Releases `session` and everything borrowed from it; NULL is allowed. */
void precis_session_release(precis_session_t *session);

/* Functions, by index in [0, count). The name is borrowed from the session. */
size_t precis_session_function_count(const precis_session_t *session);
const char *precis_session_function_name(const precis_session_t *session, size_t index);

/* The name and type of a function input or output, or of a parameter; every pointer is
 * borrowed from the session. */
typedef struct precis_value_info_t {
  const char *name; /* "" when the value has no name */
  precis_dtype_t dtype;
  size_t rank;
  const int64_t *shape;
} precis_value_info_t;

/* The number of inputs and outputs of `function` (NotFound when it does not exist). */
precis_status_t precis_session_function_signature(const precis_session_t *session,
                                                  const char *function, size_t *out_num_inputs,
                                                  size_t *out_num_outputs);
precis_status_t precis_session_input_info(const precis_session_t *session, const char *function,
                                          size_t index, precis_value_info_t *out_info);
precis_status_t precis_session_output_info(const precis_session_t *session, const char *function,
                                           size_t index, precis_value_info_t *out_info);

/* Runs `function` on `num_inputs` inputs (each must match the function's input dtype and shape
 * exactly; borrowed for the call and only read). On success `*out_outputs` is an array of
 * `*out_num_outputs` tensors owned by the caller: release it with precis_tensors_free.
 * Thread-safe: concurrent runs on one session are allowed (see the top of this file). */
precis_status_t precis_session_run(precis_session_t *session, const char *function,
                                   const precis_tensor_t *inputs, size_t num_inputs,
                                   precis_tensor_t **out_outputs, size_t *out_num_outputs);

/* Parameters (named weights and constants), by index in [0, count). */
size_t precis_session_parameter_count(const precis_session_t *session);
precis_status_t precis_session_parameter_info(const precis_session_t *session, size_t index,
                                              precis_value_info_t *out_info);
/* Copies parameter `name` into a new tensor `*out_tensor` (an array of one) owned by the
 * caller: release it with precis_tensors_free(*out_tensor, 1). */
precis_status_t precis_session_get_parameter(const precis_session_t *session, const char *name,
                                             precis_tensor_t **out_tensor);
/* Overwrites parameter `name` with `value` (same dtype and shape; borrowed for the call). */
precis_status_t precis_session_set_parameter(precis_session_t *session, const char *name,
                                             const precis_tensor_t *value);

/* Bytes of one activation arena (each run in flight uses one), and of the parameters and
 * constants the artifact uses. */
uint64_t precis_session_arena_bytes(const precis_session_t *session);
uint64_t precis_session_parameter_bytes(const precis_session_t *session);

/*===-------------------------------------------------------------------===*
 * Training sessions
 *===-------------------------------------------------------------------===*/

/* A training loop around an artifact compiled with `precis compile --train`: its parameters
 * (initialised from the artifact), optimizer state (zeros) and step count, carried from one
 * step to the next. Not thread-safe: calls on one training session must not
 * overlap; distinct training sessions are independent. */
typedef struct precis_training_session_s precis_training_session_t;

/* Loads the artifact at `path` and checks its `train_step` (InvalidArgument when it has none).
 * `options` may be NULL; copy_parameters is implied. On success `*out_session` is owned by the
 * caller; release it with precis_training_session_release. */
precis_status_t precis_training_session_create_from_file(const char *path,
                                                         const precis_session_options_t *options,
                                                         precis_training_session_t **out_session);
/* Releases `session`; NULL is allowed. */
void precis_training_session_release(precis_training_session_t *session);

/* Runs one training step with learning rate `lr` on `num_inputs` batch inputs, `inputs[i]`
 * named `names[i]` (every batch input of train_step exactly once, in any order; borrowed for
 * the call and only read). On success the state advances and `*out_loss` (may be NULL) is the
 * loss of the batch before the update. An error found before the step runs (a missing or
 * mismatched input) leaves the state unchanged; an error inside the run (a kernel's, or a
 * non-finite value under check-numerics) may leave it partly updated, since the CPU backend
 * updates the state where it lies: load the last checkpoint to go on. */
precis_status_t precis_training_session_step(precis_training_session_t *session,
                                             const char *const *names,
                                             const precis_tensor_t *inputs, size_t num_inputs,
                                             float lr, float *out_loss);
/* Reads the .npz data set at `path` (one array per batch input, rows first) that
 * precis_training_session_step_next takes its batches from, permuting its rows once with
 * `shuffle_seed` when it is >= 0 (Fisher-Yates, splitmix64: the permutation of
 * `precis train --shuffle`). After a checkpoint was loaded its seed holds: -1 means the
 * checkpoint's, another seed is InvalidArgument. */
precis_status_t precis_training_session_open_data(precis_training_session_t *session,
                                                  const char *path, int64_t shuffle_seed);
/* Runs one training step on the next batch of the data set: batch i (i = the data cursor,
 * the number of steps taken so far, across checkpoints) is rows [i*B, (i+1)*B) modulo the
 * row count. As precis_training_session_step otherwise. */
precis_status_t precis_training_session_step_next(precis_training_session_t *session, float lr,
                                                  float *out_loss);
/* The data cursor: training steps taken so far, restored by loading a checkpoint. */
int64_t precis_training_session_data_cursor(const precis_training_session_t *session);
/* Copies the current value of trained parameter `name` (its ONNX name) into a new tensor
 * `*out_tensor` (an array of one) owned by the caller: release it with
 * precis_tensors_free(*out_tensor, 1). */
precis_status_t precis_training_session_get_parameter(const precis_training_session_t *session,
                                                      const char *name,
                                                      precis_tensor_t **out_tensor);
/* Overwrites trained parameter `name` with `value` (same dtype and shape; borrowed). */
precis_status_t precis_training_session_set_parameter(precis_training_session_t *session,
                                                      const char *name,
                                                      const precis_tensor_t *value);
/* Sets the seed of training-mode dropout's Philox stream (the RNG_STATE training state,
 * [seed, steps drawn]: the seed becomes `seed`, the count of steps drawn is kept), as
 * `precis train --seed` does at compile time. InvalidArgument when the training step has no
 * training-mode dropout. Every rank of a data-parallel job must set the same seed. */
precis_status_t precis_training_session_set_dropout_seed(precis_training_session_t *session,
                                                         uint64_t seed);
/* Writes parameters, optimizer state, step, data cursor and shuffle seed to
 * `dir`/step-<data cursor, 8 digits>.npz, atomically and with a checksum (created if missing):
 * the checkpoint format of `precis train`, which every tool resumes. */
precis_status_t precis_training_session_save_checkpoint(const precis_training_session_t *session,
                                                        const char *dir);
/* Restores the state, data cursor and shuffle seed from checkpoint file `path`, or from the
 * latest checkpoint when `path` is a directory; a damaged or mismatching checkpoint is an
 * error and changes nothing. */
precis_status_t precis_training_session_load_checkpoint(precis_training_session_t *session,
                                                        const char *path);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PRECIS_RUNTIME_PRECIS_H */
