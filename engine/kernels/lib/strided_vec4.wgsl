// Operand access of the CPU elementwise kernels with broadcasting (binary_cpu.wgsl, where_cpu.wgsl):
// an invocation produces output vec4s, elements e .. e+3 of the broadcast shape. When the innermost
// dimension is a multiple of 4 those elements share every outer coordinate, so one strided offset
// serves all four and an operand is read as one vec4 (mode 1: innermost stride 1, offset on a
// vec4) or one broadcast element (mode 2: innermost stride 0); otherwise (mode 0) each element
// gets its own offset. On a CPU driver an access costs a per-lane loop, and the offset arithmetic
// (a division per dimension) costs as much again: both are paid once per vec4 instead of per element.
#include "lib/strided.wgsl"

const MODE_ELEMENTS = 0u;
const MODE_VEC4 = 1u;
const MODE_BROADCAST = 2u;
// Layouts that need little or no offset arithmetic (its divisions are per-lane scalar loops on a CPU
// driver and cost several times the access itself): the operand is laid out as the output
// (element e at e), or it is a single element.
const MODE_SAME = 3u;
const MODE_SCALAR = 4u;
// One row of `row_len` elements (a multiple of 4) repeated over the output's rows (a bias): element
// e at e mod row_len, one division instead of two per dimension.
const MODE_ROW = 5u;
