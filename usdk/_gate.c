/*
 * usdk._gate: the object a decorated function becomes.
 *
 * A Gate holds the wrapped function ("off"), the tracing wrapper ("on") and the addresses
 * of up to two LTTng tracepoint state words. A call reads the state words first: when
 * neither is set (no session enabled the event) the wrapped function is called directly
 * through vectorcall, with no argument converted and no other call made. Only when an
 * event is enabled, or usdk.testing.capture_events() forces it, does the Python tracing
 * wrapper run.
 *
 * A Gate is also a descriptor (so it decorates methods) and has a __dict__ (so
 * functools.update_wrapper can copy __name__, __doc__, __wrapped__ onto it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#ifndef USDK_VERSION
#error "USDK_VERSION must be defined by the build"
#endif

/* Where a gate points before its provider is loaded: "on", so the first call loads it. */
static const int state_on = 1;
/* Where a gate points when its provider cannot be loaded: "off", forever. */
static const int state_off = 0;
/* Set while usdk.testing.capture_events() is active. */
static int forced;

typedef struct {
	PyObject_HEAD
	const int *state[2];
	PyObject *off;
	PyObject *on;
	PyObject *dict;
	PyObject *weakreflist;
	vectorcallfunc vectorcall;
} Gate;

static PyObject *
gate_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	Gate *g = (Gate *) self;
	int on = __atomic_load_n(g->state[0], __ATOMIC_RELAXED)
		| __atomic_load_n(g->state[1], __ATOMIC_RELAXED) | forced;
	return PyObject_Vectorcall(on ? g->on : g->off, args, nargsf, kwnames);
}

static const int *
state_from_object(PyObject *obj)
{
	if (obj == NULL || obj == Py_None)
		return &state_on;
	if (obj == Py_False)
		return &state_off;
	void *p = PyLong_AsVoidPtr(obj);
	if (p == NULL) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "state address must not be 0");
		return NULL;
	}
	return (const int *) p;
}

static int
gate_init(PyObject *self, PyObject *args, PyObject *kwds)
{
	Gate *g = (Gate *) self;
	static char *kwlist[] = {"off", "on", "state0", "state1", NULL};
	PyObject *off, *on, *s0 = NULL, *s1 = NULL;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|OO", kwlist, &off, &on, &s0, &s1))
		return -1;
	if (!PyCallable_Check(off) || !PyCallable_Check(on)) {
		PyErr_SetString(PyExc_TypeError, "Gate(off, on): both must be callable");
		return -1;
	}
	const int *p0 = state_from_object(s0);
	if (p0 == NULL)
		return -1;
	const int *p1 = s1 ? state_from_object(s1) : &state_off;
	if (p1 == NULL)
		return -1;
	Py_INCREF(off);
	Py_INCREF(on);
	Py_XSETREF(g->off, off);
	Py_XSETREF(g->on, on);
	g->state[0] = p0;
	g->state[1] = p1;
	g->vectorcall = gate_vectorcall;
	return 0;
}

static PyObject *
gate_bind(PyObject *self, PyObject *args)
{
	/* bind(state0, state1): point the gate at real state words (or False = off for good). */
	Gate *g = (Gate *) self;
	PyObject *s0, *s1 = Py_False;
	if (!PyArg_ParseTuple(args, "O|O", &s0, &s1))
		return NULL;
	const int *p0 = state_from_object(s0), *p1;
	if (p0 == NULL)
		return NULL;
	p1 = state_from_object(s1);
	if (p1 == NULL)
		return NULL;
	g->state[0] = p0;
	g->state[1] = p1;
	Py_RETURN_NONE;
}

static PyObject *
gate_set_on(PyObject *self, PyObject *on)
{
	/* set_on(callable): replace the tracing path (the first call swaps in the real one). */
	Gate *g = (Gate *) self;
	if (!PyCallable_Check(on)) {
		PyErr_SetString(PyExc_TypeError, "set_on() needs a callable");
		return NULL;
	}
	Py_INCREF(on);
	Py_SETREF(g->on, on);
	Py_RETURN_NONE;
}

static PyObject *
gate_enabled(PyObject *self, void *closure)
{
	Gate *g = (Gate *) self;
	(void) closure;
	/* Not loaded yet reads as "on" internally; report only real enablement. */
	int on = (g->state[0] != &state_on && *g->state[0])
		|| (g->state[1] != &state_on && *g->state[1]);
	return PyBool_FromLong(on);
}

static PyObject *
gate_loaded(PyObject *self, void *closure)
{
	Gate *g = (Gate *) self;
	(void) closure;
	return PyBool_FromLong(g->state[0] != &state_on);
}

static PyObject *
gate_get_wrapped_off(PyObject *self, void *closure)
{
	(void) closure;
	return Py_NewRef(((Gate *) self)->off);
}

static PyObject *
gate_get_on(PyObject *self, void *closure)
{
	(void) closure;
	return Py_NewRef(((Gate *) self)->on);
}

static PyObject *
gate_descr_get(PyObject *self, PyObject *obj, PyObject *type)
{
	(void) type;
	if (obj == NULL || obj == Py_None)
		return Py_NewRef(self);
	return PyMethod_New(self, obj);
}

static int
gate_traverse(PyObject *self, visitproc visit, void *arg)
{
	Gate *g = (Gate *) self;
	Py_VISIT(g->off);
	Py_VISIT(g->on);
	Py_VISIT(g->dict);
	return 0;
}

static int
gate_clear(PyObject *self)
{
	Gate *g = (Gate *) self;
	Py_CLEAR(g->off);
	Py_CLEAR(g->on);
	Py_CLEAR(g->dict);
	return 0;
}

static void
gate_dealloc(PyObject *self)
{
	Gate *g = (Gate *) self;
	PyObject_GC_UnTrack(self);
	if (g->weakreflist)
		PyObject_ClearWeakRefs(self);
	gate_clear(self);
	Py_TYPE(self)->tp_free(self);
}

static PyObject *
gate_repr(PyObject *self)
{
	Gate *g = (Gate *) self;
	return PyUnicode_FromFormat("<usdk gate for %R>", g->off ? g->off : Py_None);
}

static PyMethodDef gate_methods[] = {
	{"bind", gate_bind, METH_VARARGS,
	 "bind(state0, state1=False): point the gate at tracepoint state words."},
	{"set_on", gate_set_on, METH_O, "set_on(callable): replace the tracing path."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef gate_getset[] = {
	{"enabled", gate_enabled, NULL, "True when a session enabled one of the gate's events.", NULL},
	{"loaded", gate_loaded, NULL, "True once the gate points at real state words.", NULL},
	{"off_path", gate_get_wrapped_off, NULL, "What a call runs when tracing is off.", NULL},
	{"on_path", gate_get_on, NULL, "What a call runs when tracing is on.", NULL},
	{"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject GateType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "usdk._gate.Gate",
	.tp_basicsize = sizeof(Gate),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
		| Py_TPFLAGS_METHOD_DESCRIPTOR,
	.tp_doc = "Gate(off, on, state0=None, state1=None): calls `off` unless a state word is set.",
	.tp_new = PyType_GenericNew,
	.tp_init = gate_init,
	.tp_dealloc = gate_dealloc,
	.tp_traverse = gate_traverse,
	.tp_clear = gate_clear,
	.tp_call = PyVectorcall_Call,
	.tp_vectorcall_offset = offsetof(Gate, vectorcall),
	.tp_dictoffset = offsetof(Gate, dict),
	.tp_weaklistoffset = offsetof(Gate, weakreflist),
	.tp_descr_get = gate_descr_get,
	.tp_methods = gate_methods,
	.tp_getset = gate_getset,
	.tp_repr = gate_repr,
};

static PyObject *
set_forced(PyObject *mod, PyObject *arg)
{
	(void) mod;
	int v = PyObject_IsTrue(arg);
	if (v < 0)
		return NULL;
	forced = v;
	Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
	{"set_forced", set_forced, METH_O,
	 "set_forced(flag): make every gate take its tracing path (capture_events)."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef gate_module = {
	PyModuleDef_HEAD_INIT, "usdk._gate", "The C gate in front of every traced call.", -1,
	module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__gate(void)
{
	if (PyType_Ready(&GateType) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&gate_module);
	if (m == NULL)
		return NULL;
	if (PyModule_AddObjectRef(m, "Gate", (PyObject *) &GateType) < 0
	    || PyModule_AddStringConstant(m, "version", USDK_VERSION) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
