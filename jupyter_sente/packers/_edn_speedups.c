/* Compiled fast paths for the EDN packer (jupyter_sente/packers/edn.py).
 *
 * The pure-Python reader and writer in edn.py define what EDN means here; this module only
 * makes their common cases faster. It reads vectors, lists, maps, sets, strings, keywords,
 * numbers, nil, true, false, #inst and #uuid, and writes those and edn.py's other scalars,
 * exactly as edn.py does; it gives up on anything else (other tags, characters, comments,
 * #_, a bad token, duplicates, limits, errors) by returning the `miss` object. edn.py then runs its own code on the same input, which gives the value
 * or raises the error with its position. So this module never raises for bad input and
 * never reports an error; the tests check that for any input its answer is either `miss` or
 * the pure-Python answer.
 *
 * Whatever needs a decision of edn.py's (a new atom's value, a string with escapes, an
 * instant, a keyword's text, an escaped string's text, a date's text ...) is asked of
 * edn.py's own functions, which configure() hands in.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef JS_SOURCE_SHA256
#error "build with -DJS_SOURCE_SHA256=... (hatch_build.py does)"
#endif

/* Nesting beyond this many collections is left to edn.py (the C code recurses). */
#define C_MAX_DEPTH 200

/* What configure() hands in (strong references, kept for the life of the process). */
static PyObject *miss;          /* edn._MISS */
static PyObject *atoms;         /* edn._atoms: token -> value, shared with the Python reader */
static PyObject *read_atom;     /* edn._read_atom(token) -> value (raises on a bad token) */
static PyObject *read_string;   /* edn._read_string(body with a backslash) -> str */
static PyObject *read_tagged;   /* edn._read_tagged("inst" | "uuid", str) -> value */
static PyObject *write_string;  /* edn._write_str(str) -> EDN text (escapes) */
static PyObject *keyword_text;  /* edn._keyword_text(keyword) -> ":name" */
static PyObject *plain_types;   /* edn._PLAIN_TYPES: key types compared alike by Clojure */
static PyObject *scalar_writers; /* edn._SCALARS: exact type -> function giving its text */
static PyTypeObject *fast_keyword, *immutable_list, *immutable_dict;

/* Attribute names, interned at import. */
static PyObject *str_list, *str_hash_, *str_dict, *str_hash, *str_edn, *str_inst, *str_uuid;
static PyObject *empty_tuple;

/* -------------------------------------------------------------------------------------------
 * Reader */

typedef struct {
    PyObject *text;
    int kind;
    const void *data;
    Py_ssize_t n;
    Py_ssize_t pos;
    int max_depth;
} Reader;

#define CHAR_AT(r, i) PyUnicode_READ((r)->kind, (r)->data, (i))

static inline int is_ws(Py_UCS4 c) {
    return c == ' ' || c == ',' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static inline int is_delimiter(Py_UCS4 c) {
    switch (c) {
    case ' ': case ',': case '\n': case '\t': case '\r': case '\f': case '\v':
    case '"': case '(': case ')': case ';': case '[': case ']': case '{': case '}': case '\\':
        return 1;
    default:
        return 0;
    }
}

static inline void skip_ws(Reader *r) {
    while (r->pos < r->n && is_ws(CHAR_AT(r, r->pos))) {
        r->pos++;
    }
}

static PyObject *read_value(Reader *r, int depth);

/* An integer token edn.py reads as int: an optional sign, then "0" or digits without a
 * leading zero; short enough for a long long. Anything else returns NULL (no error set). */
static PyObject *read_small_int(Reader *r, Py_ssize_t start, Py_ssize_t end) {
    Py_ssize_t i = start;
    int negative = 0;
    Py_UCS4 c = CHAR_AT(r, i);
    if (c == '-' || c == '+') {
        negative = c == '-';
        i++;
    }
    Py_ssize_t digits = end - i;
    if (digits < 1 || digits > 18) {
        return NULL;
    }
    if (CHAR_AT(r, i) == '0' && digits > 1) {
        return NULL;
    }
    long long v = 0;
    for (; i < end; i++) {
        c = CHAR_AT(r, i);
        if (c < '0' || c > '9') {
            return NULL;
        }
        v = v * 10 + (long long)(c - '0');
    }
    return PyLong_FromLongLong(negative ? -v : v);
}

/* A token of constituent characters: a keyword, symbol, number, nil, true or false. */
static PyObject *read_token(Reader *r) {
    Py_ssize_t start = r->pos, end = start;
    while (end < r->n && !is_delimiter(CHAR_AT(r, end))) {
        end++;
    }
    r->pos = end;
    Py_UCS4 c = CHAR_AT(r, start);
    if ((c >= '0' && c <= '9') || c == '-' || c == '+') {
        PyObject *v = read_small_int(r, start, end);
        if (v != NULL || PyErr_Occurred()) {
            return v;
        }
    }
    PyObject *tok = PyUnicode_Substring(r->text, start, end);
    if (tok == NULL) {
        return NULL;
    }
    PyObject *v = PyDict_GetItemWithError(atoms, tok);
    if (v != NULL) {
        Py_INCREF(v);
    } else if (!PyErr_Occurred()) {
        v = PyObject_CallOneArg(read_atom, tok);
    }
    Py_DECREF(tok);
    return v;
}

/* A string token; r->pos is at its opening quote. */
static PyObject *read_string_token(Reader *r) {
    Py_ssize_t start = r->pos + 1, i = start;
    int escaped = 0;
    while (i < r->n) {
        Py_UCS4 c = CHAR_AT(r, i);
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            escaped = 1;
            i += 2;
        } else {
            i++;
        }
    }
    if (i >= r->n) {
        return NULL; /* unterminated */
    }
    r->pos = i + 1;
    PyObject *body = PyUnicode_Substring(r->text, start, i);
    if (body == NULL || !escaped) {
        return body;
    }
    PyObject *v = PyObject_CallOneArg(read_string, body);
    Py_DECREF(body);
    return v;
}

/* An object of an edn-format class (ImmutableList, ImmutableDict) with two attributes set,
 * as edn.py makes them: without calling __init__, which would copy the contents. */
static PyObject *new_wrapper(PyTypeObject *type, PyObject *name, PyObject *value,
                             PyObject *hash_name) {
    PyObject *o = type->tp_new(type, empty_tuple, NULL);
    if (o == NULL) {
        return NULL;
    }
    if (PyObject_SetAttr(o, name, value) < 0 || PyObject_SetAttr(o, hash_name, Py_None) < 0) {
        Py_DECREF(o);
        return NULL;
    }
    return o;
}

/* 1 if every item from `start` on, every `step`th, is of a type Clojure compares as Python
 * does (not a collection: in Clojure [1] equals (1)), 0 if not, -1 on error. */
static int all_plain(PyObject *items, Py_ssize_t start, Py_ssize_t step) {
    for (Py_ssize_t i = start; i < PyList_GET_SIZE(items); i += step) {
        int plain = PySet_Contains(plain_types, (PyObject *)Py_TYPE(PyList_GET_ITEM(items, i)));
        if (plain != 1) {
            return plain;
        }
    }
    return 1;
}

static PyObject *make_set(PyObject *items) {
    PyObject *v = PyFrozenSet_New(items);
    if (v == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(items);
    if (PySet_GET_SIZE(v) != n || (n > 1 && all_plain(items, 0, 1) != 1)) {
        Py_DECREF(v); /* a duplicate, or members edn.py must compare as Clojure would */
        return NULL;
    }
    return v;
}

static PyObject *make_map(PyObject *items) {
    Py_ssize_t n = PyList_GET_SIZE(items);
    if (n & 1) {
        return NULL;
    }
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i += 2) {
        if (PyDict_SetItem(d, PyList_GET_ITEM(items, i), PyList_GET_ITEM(items, i + 1)) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    if (PyDict_GET_SIZE(d) * 2 != n) {
        Py_DECREF(d); /* a duplicate key: edn.py reports it */
        return NULL;
    }
    if (n > 2 && all_plain(items, 0, 2) != 1) {
        Py_DECREF(d); /* keys Clojure might compare differently (collections): edn.py checks */
        return NULL;
    }
    PyObject *v = new_wrapper(immutable_dict, str_dict, d, str_hash);
    Py_DECREF(d);
    return v;
}

/* A collection; r->pos is at its opening bracket ("#{" for a set: open is '#'). */
static PyObject *read_collection(Reader *r, Py_UCS4 open, int depth) {
    if (depth >= r->max_depth || depth >= C_MAX_DEPTH) {
        return NULL;
    }
    Py_UCS4 close = open == '[' ? ']' : open == '(' ? ')' : '}';
    r->pos += open == '#' ? 2 : 1;
    PyObject *items = PyList_New(0);
    if (items == NULL) {
        return NULL;
    }
    for (;;) {
        skip_ws(r);
        if (r->pos >= r->n) {
            goto fail; /* not closed */
        }
        Py_UCS4 c = CHAR_AT(r, r->pos);
        if (c == close) {
            r->pos++;
            break;
        }
        PyObject *item = read_value(r, depth + 1);
        if (item == NULL) {
            goto fail;
        }
        int appended = PyList_Append(items, item);
        Py_DECREF(item);
        if (appended < 0) {
            goto fail;
        }
    }
    PyObject *v;
    if (open == '[') {
        v = new_wrapper(immutable_list, str_list, items, str_hash_);
    } else if (open == '{') {
        v = make_map(items);
    } else if (open == '#') {
        v = make_set(items);
    } else {
        v = PyList_AsTuple(items);
    }
    Py_DECREF(items);
    return v;
fail:
    Py_DECREF(items);
    return NULL;
}

/* "#inst" or "#uuid", whitespace, and a string without a backslash, as edn.py's tokenizer
 * reads in one token; r->pos is at the '#'. Any other text starting with '#' gives up. */
static PyObject *read_inst_or_uuid(Reader *r) {
    static const char *names[2] = {"inst", "uuid"};
    for (int t = 0; t < 2; t++) {
        Py_ssize_t i = r->pos + 1;
        int k = 0;
        while (k < 4 && i < r->n && CHAR_AT(r, i) == (Py_UCS4)names[t][k]) {
            i++;
            k++;
        }
        if (k < 4) {
            continue;
        }
        while (i < r->n && is_ws(CHAR_AT(r, i))) {
            i++;
        }
        if (i >= r->n || CHAR_AT(r, i) != '"') {
            return NULL; /* "#instant", "#inst 5" ...: a tag for edn.py */
        }
        Py_ssize_t start = ++i;
        while (i < r->n && CHAR_AT(r, i) != '"') {
            if (CHAR_AT(r, i) == '\\') {
                return NULL;
            }
            i++;
        }
        if (i >= r->n) {
            return NULL;
        }
        PyObject *body = PyUnicode_Substring(r->text, start, i);
        if (body == NULL) {
            return NULL;
        }
        r->pos = i + 1;
        PyObject *v = PyObject_CallFunctionObjArgs(read_tagged, t ? str_uuid : str_inst, body, NULL);
        Py_DECREF(body);
        return v;
    }
    return NULL;
}

/* One value at r->pos (after whitespace), or NULL: give up (an error may be set). */
static PyObject *read_value(Reader *r, int depth) {
    skip_ws(r);
    if (r->pos >= r->n) {
        return NULL;
    }
    Py_UCS4 c = CHAR_AT(r, r->pos);
    switch (c) {
    case '[': case '{': case '(':
        return read_collection(r, c, depth);
    case '"':
        return read_string_token(r);
    case '#':
        if (r->pos + 1 < r->n && CHAR_AT(r, r->pos + 1) == '{') {
            return read_collection(r, '#', depth);
        }
        return read_inst_or_uuid(r); /* or NULL: another tag, a discard, ##Inf ... */
    case ']': case '}': case ')': case ';': case '\\':
        return NULL; /* a stray closer, a comment, a character */
    default:
        return read_token(r);
    }
}

static int has_surrogate(PyObject *text) {
    int kind = PyUnicode_KIND(text);
    if (kind == PyUnicode_1BYTE_KIND) {
        return 0;
    }
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0xD800 && c <= 0xDFFF) {
            return 1;
        }
    }
    return 0;
}

/* NULL with an Exception set, or with none: give up (return `miss`); anything else (a
 * KeyboardInterrupt in a call back into Python) goes on. */
static PyObject *give_up(void) {
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            return NULL;
        }
        PyErr_Clear();
    }
    return Py_NewRef(miss);
}

/* The nesting limit this module works to: the caller's max_depth (an int), at most
 * C_MAX_DEPTH (deeper values are edn.py's), at least 0; -1 with an error set. */
static int depth_limit(PyObject *arg) {
    int overflow;
    long max_depth = PyLong_AsLongAndOverflow(arg, &overflow);
    if (max_depth == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow > 0 || max_depth > C_MAX_DEPTH) {
        return C_MAX_DEPTH;
    }
    if (overflow < 0 || max_depth < 0) {
        return 0;
    }
    return (int)max_depth;
}

static int check_configured(void) {
    if (miss == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_edn_speedups.configure() was not called");
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(read_doc,
"read(text, max_depth, /)\n--\n\n"
"The one EDN value of `text` as edn.py reads it, or `miss` if this module leaves it to edn.py.");

static PyObject *speedups_read(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyUnicode_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "read(text: str, max_depth: int)");
        return NULL;
    }
    if (check_configured() < 0) {
        return NULL;
    }
    PyObject *text = args[0];
    int max_depth = depth_limit(args[1]);
    if (max_depth < 0) {
        return NULL;
    }
    if (!PyUnicode_IS_ASCII(text) && has_surrogate(text)) {
        return give_up(); /* edn.py rejects lone surrogates */
    }
    Reader r = {text, PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text),
                0, max_depth};
    PyObject *v = read_value(&r, 0);
    if (v == NULL) {
        return give_up();
    }
    skip_ws(&r);
    if (r.pos < r.n) {
        Py_DECREF(v); /* more than one value, a comment, a stray closer: edn.py decides */
        return give_up();
    }
    return v;
}

/* -------------------------------------------------------------------------------------------
 * Writer: UTF-8 into a growing buffer, decoded once at the end. */

typedef struct {
    char *buf;
    Py_ssize_t len;
    Py_ssize_t cap;
    int max_depth;
    char small[512];
} Writer;

static int grow(Writer *w, Py_ssize_t need) {
    Py_ssize_t cap = w->cap;
    while (cap - w->len < need) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    char *buf;
    if (w->buf == w->small) {
        buf = PyMem_Malloc((size_t)cap);
        if (buf != NULL) {
            memcpy(buf, w->small, (size_t)w->len);
        }
    } else {
        buf = PyMem_Realloc(w->buf, (size_t)cap);
    }
    if (buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    w->buf = buf;
    w->cap = cap;
    return 0;
}

static inline int put(Writer *w, const char *s, Py_ssize_t n) {
    if (w->cap - w->len < n && grow(w, n) < 0) {
        return -1;
    }
    memcpy(w->buf + w->len, s, (size_t)n);
    w->len += n;
    return 0;
}

static inline int put_char(Writer *w, char c) {
    if (w->len == w->cap && grow(w, 1) < 0) {
        return -1;
    }
    w->buf[w->len++] = c;
    return 0;
}

/* A str's text as UTF-8 (it must hold no surrogate). */
static int put_utf8(Writer *w, PyObject *s) {
    if (PyUnicode_IS_ASCII(s)) {
        return put(w, (const char *)PyUnicode_1BYTE_DATA(s), PyUnicode_GET_LENGTH(s));
    }
    PyObject *b = PyUnicode_AsUTF8String(s); /* not AsUTF8: that caches a copy in the str */
    if (b == NULL) {
        return -1;
    }
    int rc = put(w, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return rc;
}

/* Text handed back by one of edn.py's functions. */
static int put_returned(Writer *w, PyObject *t) {
    if (t == NULL) {
        return -1;
    }
    int rc = PyUnicode_CheckExact(t) ? put_utf8(w, t) : -1;
    Py_DECREF(t);
    return rc;
}

static int write_str(Writer *w, PyObject *s) {
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x20 || c == '"' || c == '\\' || (c >= 0xD800 && c <= 0xDFFF)) {
            return put_returned(w, PyObject_CallOneArg(write_string, s)); /* escapes */
        }
    }
    if (put_char(w, '"') < 0 || put_utf8(w, s) < 0) {
        return -1;
    }
    return put_char(w, '"');
}

static int write_keyword(Writer *w, PyObject *k) {
    PyObject *t = PyObject_GetAttr(k, str_edn); /* the slot caching its text, or None */
    if (t == Py_None) {
        Py_DECREF(t);
        t = PyObject_CallOneArg(keyword_text, k); /* checks the name, fills the slot */
    }
    return put_returned(w, t);
}

/* edn.py's text for a scalar of an exact type in edn._SCALARS. */
static PyObject *call_scalar_writer(PyObject *x) {
    PyObject *f = PyDict_GetItemWithError(scalar_writers, (PyObject *)Py_TYPE(x));
    if (f == NULL) {
        return NULL;
    }
    Py_INCREF(f);
    PyObject *t = PyObject_CallOneArg(f, x);
    Py_DECREF(f);
    return t;
}

/* A map key or any value that is not a collection: 1 if written, 0 if not a scalar this
 * module writes, -1 on error. */
static int write_scalar(Writer *w, PyObject *x) {
    PyTypeObject *t = Py_TYPE(x);
    if (t == &PyUnicode_Type) {
        return write_str(w, x) < 0 ? -1 : 1;
    }
    if (t == fast_keyword) {
        return write_keyword(w, x) < 0 ? -1 : 1;
    }
    if (x == Py_None) {
        return put(w, "nil", 3) < 0 ? -1 : 1;
    }
    if (x == Py_True) {
        return put(w, "true", 4) < 0 ? -1 : 1;
    }
    if (x == Py_False) {
        return put(w, "false", 5) < 0 ? -1 : 1;
    }
    if (t == &PyLong_Type) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
        if (overflow) {
            return put_returned(w, call_scalar_writer(x)) < 0 ? -1 : 1;
        }
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        char digits[32];
        int len = snprintf(digits, sizeof digits, "%lld", v);
        return put(w, digits, len) < 0 ? -1 : 1;
    }
    if (t == &PyFloat_Type) {
        double d = PyFloat_AS_DOUBLE(x);
        if (isnan(d)) {
            return put(w, "##NaN", 5) < 0 ? -1 : 1;
        }
        if (isinf(d)) {
            return (d > 0 ? put(w, "##Inf", 5) : put(w, "##-Inf", 6)) < 0 ? -1 : 1;
        }
        /* what float.__repr__ gives */
        char *repr = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
        if (repr == NULL) {
            return -1;
        }
        int rc = put(w, repr, (Py_ssize_t)strlen(repr));
        PyMem_Free(repr);
        return rc < 0 ? -1 : 1;
    }
    /* edn.py's other scalars (Keyword, Symbol, Char, Decimal, datetime, date, UUID), but not a
     * datetime with a tzinfo of the user's: its utcoffset() could change the value being
     * written, and would run again if this module then gave up (so edn.py's alone) */
    if (t == PyDateTimeAPI->DateTimeType) {
        PyObject *tz = PyDateTime_DATE_GET_TZINFO(x);
        if (tz != Py_None && Py_TYPE(tz) != Py_TYPE(PyDateTime_TimeZone_UTC)) {
            return 0;
        }
    }
    if (PyDict_GetItemWithError(scalar_writers, (PyObject *)t) != NULL) {
        return put_returned(w, call_scalar_writer(x)) < 0 ? -1 : 1;
    }
    return PyErr_Occurred() ? -1 : 0;
}

static int write_value(Writer *w, PyObject *x, int depth);

static int write_items(Writer *w, PyObject *seq, char open, char close, int depth) {
    if (depth >= w->max_depth) {
        return -1;
    }
    if (put_char(w, open) < 0) {
        return -1;
    }
    int is_list = PyList_CheckExact(seq);
    for (Py_ssize_t i = 0; i < (is_list ? PyList_GET_SIZE(seq) : PyTuple_GET_SIZE(seq)); i++) {
        if (i > 0 && put_char(w, ' ') < 0) {
            return -1;
        }
        PyObject *x = is_list ? PyList_GET_ITEM(seq, i) : PyTuple_GET_ITEM(seq, i);
        Py_INCREF(x);
        int rc = write_value(w, x, depth + 1);
        Py_DECREF(x);
        if (rc < 0) {
            return -1;
        }
    }
    return put_char(w, close);
}

static int write_map(Writer *w, PyObject *d, int depth) {
    if (depth >= w->max_depth) {
        return -1;
    }
    if (put_char(w, '{') < 0) {
        return -1;
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    int first = 1;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (!first && put(w, ", ", 2) < 0) {
            return -1;
        }
        first = 0;
        Py_INCREF(k);
        Py_INCREF(v);
        /* a key that is a collection (or another type) is edn.py's: it checks duplicates */
        int rc = write_scalar(w, k);
        if (rc == 1) {
            rc = put_char(w, ' ') < 0 ? -1 : write_value(w, v, depth + 1);
        } else {
            rc = -1;
        }
        Py_DECREF(k);
        Py_DECREF(v);
        if (rc < 0) {
            return -1;
        }
    }
    return put_char(w, '}');
}

/* A set's members in its iteration order, as edn.py writes them; a set of two or more with a
 * member Clojure might compare differently (a collection) is edn.py's: it checks them. */
static int write_set(Writer *w, PyObject *x, int depth) {
    if (depth >= w->max_depth) {
        return -1;
    }
    PyObject *items = PySequence_List(x);
    if (items == NULL) {
        return -1;
    }
    int rc = -1;
    if (PyList_GET_SIZE(items) < 2 || all_plain(items, 0, 1) == 1) {
        rc = put_char(w, '#');
        if (rc == 0) {
            rc = write_items(w, items, '{', '}', depth);
        }
    }
    Py_DECREF(items);
    return rc;
}

/* The contents of an ImmutableList or ImmutableDict, if it is the plain type expected. */
static int write_wrapped(Writer *w, PyObject *x, PyObject *name, PyTypeObject *inner, int depth) {
    PyObject *c = PyObject_GetAttr(x, name);
    if (c == NULL) {
        return -1;
    }
    int rc;
    if (Py_TYPE(c) != inner) {
        rc = -1;
    } else if (inner == &PyDict_Type) {
        rc = write_map(w, c, depth);
    } else {
        rc = write_items(w, c, '[', ']', depth);
    }
    Py_DECREF(c);
    return rc;
}

/* 0 when written, -1 to give up (an error may be set). */
static int write_value(Writer *w, PyObject *x, int depth) {
    int rc = write_scalar(w, x);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }
    PyTypeObject *t = Py_TYPE(x);
    if (t == &PyList_Type) {
        return write_items(w, x, '[', ']', depth);
    }
    if (t == &PyDict_Type) {
        return write_map(w, x, depth);
    }
    if (t == immutable_list) {
        return write_wrapped(w, x, str_list, &PyList_Type, depth);
    }
    if (t == immutable_dict) {
        return write_wrapped(w, x, str_dict, &PyDict_Type, depth);
    }
    if (t == &PyTuple_Type) {
        return write_items(w, x, '(', ')', depth);
    }
    if (t == &PyFrozenSet_Type || t == &PySet_Type) {
        return write_set(w, x, depth);
    }
    return -1; /* tags, subclasses, other types: edn.py's */
}

PyDoc_STRVAR(write_doc,
"write(value, max_depth, /)\n--\n\n"
"The EDN text edn.py writes for `value`, or `miss` if this module leaves it to edn.py.");

static PyObject *speedups_write(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "write(value, max_depth: int)");
        return NULL;
    }
    if (check_configured() < 0) {
        return NULL;
    }
    int max_depth = depth_limit(args[1]);
    if (max_depth < 0) {
        return NULL;
    }
    Writer w;
    w.buf = w.small;
    w.len = 0;
    w.cap = sizeof w.small;
    w.max_depth = max_depth;
    PyObject *result = NULL;
    if (write_value(&w, args[0], 0) == 0) {
        result = PyUnicode_DecodeUTF8(w.buf, w.len, "strict");
    }
    if (w.buf != w.small) {
        PyMem_Free(w.buf);
    }
    return result != NULL ? result : give_up();
}

/* -------------------------------------------------------------------------------------------
 * Module */

PyDoc_STRVAR(configure_doc,
"configure(miss, atoms, read_atom, read_string, read_tagged, write_string, keyword_text,\n"
"          scalar_writers, plain_types, fast_keyword, immutable_list, immutable_dict, /)\n--\n\n"
"Hand in edn.py's pieces; edn.py calls it once at import.");

static PyObject *speedups_configure(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError, "configure() takes 12 arguments");
        return NULL;
    }
    if (!PyDict_CheckExact(args[1]) || !PyDict_CheckExact(args[7]) || !PyAnySet_Check(args[8]) ||
        !PyType_Check(args[9]) || !PyType_Check(args[10]) || !PyType_Check(args[11])) {
        PyErr_SetString(PyExc_TypeError, "configure(): atoms and scalar_writers must be dicts,"
                                         " plain_types a set, the last three types");
        return NULL;
    }
    for (int i = 2; i < 7; i++) {
        if (!PyCallable_Check(args[i])) {
            PyErr_SetString(PyExc_TypeError, "configure(): arguments 3 to 7 must be callable");
            return NULL;
        }
    }
    Py_XSETREF(miss, Py_NewRef(args[0]));
    Py_XSETREF(atoms, Py_NewRef(args[1]));
    Py_XSETREF(read_atom, Py_NewRef(args[2]));
    Py_XSETREF(read_string, Py_NewRef(args[3]));
    Py_XSETREF(read_tagged, Py_NewRef(args[4]));
    Py_XSETREF(write_string, Py_NewRef(args[5]));
    Py_XSETREF(keyword_text, Py_NewRef(args[6]));
    Py_XSETREF(scalar_writers, Py_NewRef(args[7]));
    Py_XSETREF(plain_types, Py_NewRef(args[8]));
    Py_XSETREF(fast_keyword, (PyTypeObject *)Py_NewRef(args[9]));
    Py_XSETREF(immutable_list, (PyTypeObject *)Py_NewRef(args[10]));
    Py_XSETREF(immutable_dict, (PyTypeObject *)Py_NewRef(args[11]));
    Py_RETURN_NONE;
}

static PyMethodDef speedups_methods[] = {
    {"read", (PyCFunction)(void (*)(void))speedups_read, METH_FASTCALL, read_doc},
    {"write", (PyCFunction)(void (*)(void))speedups_write, METH_FASTCALL, write_doc},
    {"configure", (PyCFunction)(void (*)(void))speedups_configure, METH_FASTCALL, configure_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "jupyter_sente.packers._edn_speedups",
    "Compiled fast paths of the EDN packer; jupyter_sente.packers.edn uses them when built.",
    -1,
    speedups_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__edn_speedups(void) {
    str_list = PyUnicode_InternFromString("_list");
    str_hash_ = PyUnicode_InternFromString("_hash");
    str_dict = PyUnicode_InternFromString("dict");
    str_hash = PyUnicode_InternFromString("hash");
    str_edn = PyUnicode_InternFromString("_edn");
    str_inst = PyUnicode_InternFromString("inst");
    str_uuid = PyUnicode_InternFromString("uuid");
    empty_tuple = PyTuple_New(0);
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL || str_list == NULL || str_hash_ == NULL || str_dict == NULL ||
        str_hash == NULL || str_edn == NULL || str_inst == NULL || str_uuid == NULL ||
        empty_tuple == NULL) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&speedups_module);
    if (m == NULL) {
        return NULL;
    }
    if (PyModule_AddStringConstant(m, "SOURCE_SHA256", JS_SOURCE_SHA256) < 0 ||
        PyModule_AddIntConstant(m, "C_MAX_DEPTH", C_MAX_DEPTH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
