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
#include <string.h>

#ifndef USDK_VERSION
#error "USDK_VERSION must be defined by the build"
#endif

/* The argument array a provider's usdk_evv_<event>() takes (same as usdk/codegen.py). */
typedef union usdk_arg {
	int64_t i;
	double d;
	struct { const char *p; size_t n; } s;
} usdk_arg;
typedef void (*usdk_emit_fn)(const usdk_arg *);

#define MAX_ARGS 10        /* LTTNG_UST_TP_ARGS limit: no event has more fields */
#define MAX_TEXT 65536     /* longer str/bytes go to the Python path, which cuts them */

/* One captured field: where its value is in a call and how it converts. */
typedef struct {
	char code;          /* i int64, d double, b bool, s str, y bytes, e enum */
	Py_ssize_t pos;     /* index among positional arguments, -1 when keyword-only */
	PyObject *kwname;   /* parameter name */
	PyObject *deflt;    /* value when not passed (a sentinel for "required") */
	PyObject *enummap;  /* enum fields: member -> int; else NULL */
} FieldSpec;

enum { FAST_NONE = 0, FAST_POINT = 1, FAST_SPAN = 2 };

/* span ids: unique per process, shared with the Python paths through next_span_id(). */
static int64_t span_counter;

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
	/* the C tracing path, when set (set_point / set_span) */
	int fast;
	usdk_emit_fn emit_a;   /* point: the event; span: entry */
	usdk_emit_fn emit_b;   /* span: exit */
	int nfields;
	FieldSpec fields[MAX_ARGS];
	int has_ret;
	FieldSpec ret;
	PyObject *ctxvar;      /* span: the ContextVar holding the current span id */
	PyObject *exit_exc;    /* span: exit_exc(sid, parent, exc) for a raising call */
	PyObject *exit_slow;   /* span: exit_slow(sid, parent, ret) for a ret C refuses */
} Gate;

static int
convert(const FieldSpec *f, PyObject *v, usdk_arg *out)
{
	/* 0: converted; -1: leave this call to the Python path (no error left set). */
	int overflow;
	long long x;

	switch (f->code) {
	case 'i':
	case 'b':
		if (!PyLong_Check(v))
			return -1;
		x = PyLong_AsLongLongAndOverflow(v, &overflow);
		if (overflow || (x == -1 && PyErr_Occurred())) {
			PyErr_Clear();
			return -1;
		}
		out->i = f->code == 'b' ? (x != 0) : x;
		return 0;
	case 'd':
		if (PyFloat_CheckExact(v)) {
			out->d = PyFloat_AS_DOUBLE(v);
			return 0;
		}
		if (PyLong_Check(v)) {
			double d = PyLong_AsDouble(v);
			if (d == -1.0 && PyErr_Occurred()) {
				PyErr_Clear();
				return -1;
			}
			out->d = d;
			return 0;
		}
		return -1;
	case 's': {
		Py_ssize_t n;
		const char *p;
		if (!PyUnicode_CheckExact(v))
			return -1;
		p = PyUnicode_AsUTF8AndSize(v, &n);
		if (p == NULL) {  /* lone surrogates */
			PyErr_Clear();
			return -1;
		}
		if (n > MAX_TEXT || strlen(p) != (size_t) n)  /* too long, or an embedded NUL */
			return -1;
		out->s.p = p;
		out->s.n = (size_t) n;
		return 0;
	}
	case 'y':
		if (!PyBytes_CheckExact(v) || PyBytes_GET_SIZE(v) > MAX_TEXT)
			return -1;
		out->s.p = PyBytes_AS_STRING(v);
		out->s.n = (size_t) PyBytes_GET_SIZE(v);
		return 0;
	case 'e': {
		PyObject *m;
		if (PyBool_Check(v)) {  /* True == 1 would find an IntEnum member: bool -> -1 */
			out->i = -1;
			return 0;
		}
		m = PyDict_GetItemWithError(f->enummap, v);
		if (m == NULL) {
			if (PyErr_Occurred()) {  /* unhashable */
				PyErr_Clear();
				return -1;
			}
			if (!PyLong_Check(v) || PyBool_Check(v))
				return -1;
			m = v;
		}
		x = PyLong_AsLongLongAndOverflow(m, &overflow);
		if (overflow || (x == -1 && PyErr_Occurred())) {
			PyErr_Clear();
			return -1;
		}
		out->i = x;
		return 0;
	}
	}
	return -1;
}

static PyObject *
lookup(const FieldSpec *f, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
       int *from_kw)
{
	if (f->pos >= 0 && f->pos < nargs)
		return args[f->pos];
	if (kwnames != NULL) {
		Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
		for (Py_ssize_t k = 0; k < nk; k++) {
			PyObject *key = PyTuple_GET_ITEM(kwnames, k);
			if (key == f->kwname || PyUnicode_Compare(key, f->kwname) == 0) {
				(*from_kw)++;
				return args[nargs + k];
			}
		}
	}
	return f->deflt;
}

static PyObject *
point_call(Gate *g, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	usdk_arg vals[MAX_ARGS + 1];
	int from_kw = 0;

	if (nargs > g->nfields)
		goto python;
	for (int i = 0; i < g->nfields; i++) {
		PyObject *v = lookup(&g->fields[i], args, nargs, kwnames, &from_kw);
		if (convert(&g->fields[i], v, &vals[i]) < 0)
			goto python;
	}
	if (kwnames != NULL && from_kw != PyTuple_GET_SIZE(kwnames))
		goto python;  /* unknown keyword: the Python path warns */
	g->emit_a(vals);
	Py_RETURN_NONE;
python:
	return PyObject_Vectorcall(g->on, args, nargsf, kwnames);
}

static PyObject *
span_call(Gate *g, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
	usdk_arg vals[MAX_ARGS + 2];
	int from_kw = 0;
	PyObject *cur, *sidobj, *token, *res;
	int64_t sid, parent;

	for (int i = 0; i < g->nfields; i++) {
		PyObject *v = lookup(&g->fields[i], args, nargs, kwnames, &from_kw);
		if (convert(&g->fields[i], v, &vals[i + 2]) < 0)
			return PyObject_Vectorcall(g->on, args, nargsf, kwnames);
	}
	if (PyContextVar_Get(g->ctxvar, NULL, &cur) < 0)
		return NULL;
	parent = cur != NULL ? PyLong_AsLongLong(cur) : 0;
	Py_XDECREF(cur);
	if (parent == -1 && PyErr_Occurred())
		PyErr_Clear();
	sid = __atomic_add_fetch(&span_counter, 1, __ATOMIC_RELAXED);
	sidobj = PyLong_FromLongLong(sid);
	if (sidobj == NULL)
		return NULL;
	token = PyContextVar_Set(g->ctxvar, sidobj);
	Py_DECREF(sidobj);
	if (token == NULL)
		return NULL;
	vals[0].i = sid;
	vals[1].i = parent;
	g->emit_a(vals);

	res = PyObject_Vectorcall(g->off, args, nargsf, kwnames);

	if (res == NULL) {
		PyObject *t, *v, *tb, *r;
		PyErr_Fetch(&t, &v, &tb);
		PyErr_NormalizeException(&t, &v, &tb);
		if (tb != NULL && v != NULL)
			PyException_SetTraceback(v, tb);
		if (PyContextVar_Reset(g->ctxvar, token) < 0)
			PyErr_Clear();
		Py_DECREF(token);
		r = PyObject_CallFunction(g->exit_exc, "LLO", (long long) sid, (long long) parent,
					  v ? v : Py_None);
		if (r == NULL)
			PyErr_Clear();  /* never let tracing replace the application's exception */
		Py_XDECREF(r);
		PyErr_Restore(t, v, tb);
		return NULL;
	}
	if (PyContextVar_Reset(g->ctxvar, token) < 0)
		PyErr_Clear();
	Py_DECREF(token);

	usdk_arg ev[4];
	int k = 2;
	ev[0].i = sid;
	ev[1].i = parent;
	if (g->has_ret) {
		if (convert(&g->ret, res, &ev[2]) < 0) {
			PyObject *r = PyObject_CallFunction(g->exit_slow, "LLO", (long long) sid,
							    (long long) parent, res);
			if (r == NULL)
				PyErr_Clear();
			Py_XDECREF(r);
			return res;
		}
		k = 3;
	}
	ev[k].s.p = "";
	ev[k].s.n = 0;
	g->emit_b(ev);
	return res;
}

static PyObject *
gate_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
	Gate *g = (Gate *) self;
	int on = __atomic_load_n(g->state[0], __ATOMIC_RELAXED)
		| __atomic_load_n(g->state[1], __ATOMIC_RELAXED);
	if (!(on | forced))
		return PyObject_Vectorcall(g->off, args, nargsf, kwnames);
	if (forced || g->fast == FAST_NONE)
		return PyObject_Vectorcall(g->on, args, nargsf, kwnames);
	if (g->fast == FAST_POINT)
		return point_call(g, args, nargsf, kwnames);
	return span_call(g, args, nargsf, kwnames);
}

static void
clear_specs(Gate *g)
{
	for (int i = 0; i < MAX_ARGS; i++) {
		Py_CLEAR(g->fields[i].kwname);
		Py_CLEAR(g->fields[i].deflt);
		Py_CLEAR(g->fields[i].enummap);
	}
	Py_CLEAR(g->ret.kwname);
	Py_CLEAR(g->ret.deflt);
	Py_CLEAR(g->ret.enummap);
	Py_CLEAR(g->ctxvar);
	Py_CLEAR(g->exit_exc);
	Py_CLEAR(g->exit_slow);
	g->fast = FAST_NONE;
	g->nfields = 0;
	g->has_ret = 0;
}

static int
parse_spec(PyObject *item, FieldSpec *f)
{
	/* (code, position, name, default, enummap-or-None) */
	const char *code;
	Py_ssize_t pos;
	PyObject *name, *deflt, *enummap;
	if (!PyArg_ParseTuple(item, "snOOO", &code, &pos, &name, &deflt, &enummap))
		return -1;
	if (strlen(code) != 1 || strchr("idbsye", code[0]) == NULL) {
		PyErr_Format(PyExc_ValueError, "unknown field code %s", code);
		return -1;
	}
	if (code[0] == 'e' && !PyDict_Check(enummap)) {
		PyErr_SetString(PyExc_TypeError, "an enum field needs a dict");
		return -1;
	}
	f->code = code[0];
	f->pos = pos;
	f->kwname = Py_NewRef(name);
	f->deflt = Py_NewRef(deflt);
	f->enummap = enummap == Py_None ? NULL : Py_NewRef(enummap);
	return 0;
}

static int
parse_specs(Gate *g, PyObject *specs)
{
	if (!PyTuple_Check(specs) || PyTuple_GET_SIZE(specs) > MAX_ARGS) {
		PyErr_SetString(PyExc_ValueError, "field specs: a tuple of at most 10");
		return -1;
	}
	for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(specs); i++) {
		if (parse_spec(PyTuple_GET_ITEM(specs, i), &g->fields[i]) < 0)
			return -1;
		g->nfields = (int) i + 1;
	}
	return 0;
}

static PyObject *
gate_set_point(PyObject *self, PyObject *args)
{
	/* set_point(emit_address, field_specs): convert and emit in C when enabled. */
	Gate *g = (Gate *) self;
	PyObject *addr, *specs;
	if (!PyArg_ParseTuple(args, "OO", &addr, &specs))
		return NULL;
	void *fn = PyLong_AsVoidPtr(addr);
	if (fn == NULL)
		return PyErr_Occurred() ? NULL : (PyErr_SetString(PyExc_ValueError, "null address"), NULL);
	clear_specs(g);
	if (parse_specs(g, specs) < 0) {
		clear_specs(g);
		return NULL;
	}
	g->emit_a = (usdk_emit_fn) fn;
	g->fast = FAST_POINT;
	Py_RETURN_NONE;
}

static PyObject *
gate_set_span(PyObject *self, PyObject *args)
{
	/* set_span(entry_addr, exit_addr, field_specs, ret_spec_or_None, contextvar,
	 *          exit_exc, exit_slow): the whole span in C when enabled. */
	Gate *g = (Gate *) self;
	PyObject *a, *b, *specs, *ret, *ctxvar, *exc, *slow;
	if (!PyArg_ParseTuple(args, "OOOOOOO", &a, &b, &specs, &ret, &ctxvar, &exc, &slow))
		return NULL;
	void *fa = PyLong_AsVoidPtr(a), *fb = PyLong_AsVoidPtr(b);
	if (fa == NULL || fb == NULL)
		return PyErr_Occurred() ? NULL : (PyErr_SetString(PyExc_ValueError, "null address"), NULL);
	if (!PyContextVar_CheckExact(ctxvar)) {
		PyErr_SetString(PyExc_TypeError, "set_span needs a ContextVar");
		return NULL;
	}
	clear_specs(g);
	if (parse_specs(g, specs) < 0 || (ret != Py_None && parse_spec(ret, &g->ret) < 0)) {
		clear_specs(g);
		return NULL;
	}
	g->has_ret = ret != Py_None;
	g->ctxvar = Py_NewRef(ctxvar);
	g->exit_exc = Py_NewRef(exc);
	g->exit_slow = Py_NewRef(slow);
	g->emit_a = (usdk_emit_fn) fa;
	g->emit_b = (usdk_emit_fn) fb;
	g->fast = FAST_SPAN;
	Py_RETURN_NONE;
}

static PyObject *
gate_clear_fast(PyObject *self, PyObject *unused)
{
	(void) unused;
	clear_specs((Gate *) self);
	Py_RETURN_NONE;
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
	for (int i = 0; i < MAX_ARGS; i++) {
		Py_VISIT(g->fields[i].kwname);
		Py_VISIT(g->fields[i].deflt);
		Py_VISIT(g->fields[i].enummap);
	}
	Py_VISIT(g->ret.deflt);
	Py_VISIT(g->ret.enummap);
	Py_VISIT(g->ctxvar);
	Py_VISIT(g->exit_exc);
	Py_VISIT(g->exit_slow);
	return 0;
}

static int
gate_clear(PyObject *self)
{
	Gate *g = (Gate *) self;
	Py_CLEAR(g->off);
	Py_CLEAR(g->on);
	Py_CLEAR(g->dict);
	clear_specs(g);
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
	{"set_point", gate_set_point, METH_VARARGS,
	 "set_point(emit_address, field_specs): emit a point event in C when enabled."},
	{"set_span", gate_set_span, METH_VARARGS,
	 "set_span(entry, exit, specs, ret_spec, contextvar, exit_exc, exit_slow): spans in C."},
	{"clear_fast", gate_clear_fast, METH_NOARGS, "clear_fast(): back to the Python path only."},
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

static PyObject *
next_span_id(PyObject *mod, PyObject *unused)
{
	(void) mod;
	(void) unused;
	return PyLong_FromLongLong(__atomic_add_fetch(&span_counter, 1, __ATOMIC_RELAXED));
}

static PyMethodDef module_methods[] = {
	{"next_span_id", next_span_id, METH_NOARGS, "next_span_id(): a new span id (per process)."},
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
