#include "core/model/torch_pickle.h"

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cstring>
#include <limits>
#include <optional>

#include "core/util/error.h"
#include "core/util/strings.h"

namespace clipscope::pickle {
namespace fs = std::filesystem;
using Kind = Value::Kind;

namespace {

ValuePtr make(Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}
ValuePtr make_int(int64_t i) {
  auto v = make(Kind::Int);
  v->integer = i;
  return v;
}
ValuePtr make_text(Kind kind, std::string s) {
  auto v = make(kind);
  v->text = std::move(s);
  return v;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None:
      return "None";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::Bytes:
      return "bytes";
    case Kind::Tuple:
      return "tuple";
    case Kind::List:
      return "list";
    case Kind::Dict:
      return "dict";
    case Kind::Set:
      return "set";
    case Kind::Tensor:
      return "tensor";
    case Kind::Global:
      return "class";
    case Kind::Object:
      return "object";
  }
  return "?";
}

// torch.<Name>Storage -> dtype (what torch.save writes for every typed storage).
std::optional<torch::ScalarType> storage_dtype(const std::string& global) {
  static const std::map<std::string, torch::ScalarType> types = {
      {"torch.DoubleStorage", torch::kDouble},
      {"torch.FloatStorage", torch::kFloat},
      {"torch.HalfStorage", torch::kHalf},
      {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kLong},
      {"torch.IntStorage", torch::kInt},
      {"torch.ShortStorage", torch::kShort},
      {"torch.CharStorage", torch::kChar},
      {"torch.ByteStorage", torch::kByte},
      {"torch.BoolStorage", torch::kBool},
      {"torch.ComplexFloatStorage", torch::kComplexFloat},
      {"torch.ComplexDoubleStorage", torch::kComplexDouble},
      {"torch.UntypedStorage", torch::kByte},
  };
  auto it = types.find(global);
  if (it == types.end()) return std::nullopt;
  return it->second;
}

class Machine {
 public:
  Machine(const std::string& bytes, std::string source) : data_(bytes), source_(std::move(source)) {}

  ValuePtr run() {
    while (true) {
      const auto op = static_cast<unsigned char>(read_byte());
      if (op == '.') {
        if (stack_.empty()) fail("STOP with an empty stack");
        return stack_.back();
      }
      step(op);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("{}: corrupt pickle at byte {}: {}", source_, pos_, what));
  }

  // ----- reading -----
  void need(size_t n) const {
    if (n > data_.size() - pos_) fail("truncated");
  }
  char read_byte() {
    need(1);
    return data_[pos_++];
  }
  std::string read_bytes(uint64_t n) {
    if (n > data_.size() - pos_) fail(fmt::format("a length of {} runs past the end", n));
    std::string s = data_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  uint64_t read_uint(int bytes) {
    need(static_cast<size_t>(bytes));
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
    pos_ += static_cast<size_t>(bytes);
    return v;
  }
  std::string read_line() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string::npos) fail("unterminated line");
    std::string s = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  // LONG1/LONG4: little-endian two's complement.
  int64_t read_long(uint64_t n) {
    if (n > 8) fail(fmt::format("an integer of {} bytes (over 64 bits)", n));
    const std::string b = read_bytes(n);
    if (n == 0) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(b[i])) << (8 * i);
    if (n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) v |= ~uint64_t{0} << (8 * n);
    return static_cast<int64_t>(v);
  }

  // ----- the stack -----
  ValuePtr pop() {
    if (stack_.size() <= floor()) fail("stack underflow");
    ValuePtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    if (stack_.size() <= floor()) fail("stack underflow");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<ValuePtr> pop_mark() {
    if (marks_.empty()) fail("no MARK");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }
  void push(ValuePtr v) { stack_.push_back(std::move(v)); }
  void memo_put(uint64_t i) { memo_[i] = top(); }
  void memo_get(uint64_t i) {
    auto it = memo_.find(i);
    if (it == memo_.end()) fail(fmt::format("memo entry {} does not exist", i));
    push(it->second);
  }
  ValuePtr tuple(std::vector<ValuePtr> items) {
    auto t = make(Kind::Tuple);
    t->items = std::move(items);
    return t;
  }

  static void set_items(Value& dict, std::vector<ValuePtr>& kv) {
    for (size_t i = 0; i + 1 < kv.size(); i += 2) {
      bool replaced = false;
      if (kv[i]->is(Kind::String))
        for (auto& e : dict.entries)
          if (e.first->is(Kind::String) && e.first->text == kv[i]->text) {
            e.second = kv[i + 1];
            replaced = true;
            break;
          }
      if (!replaced) dict.entries.emplace_back(kv[i], kv[i + 1]);
    }
  }
  void add_to_dict(const ValuePtr& target, std::vector<ValuePtr> kv) {
    if (kv.size() % 2) fail("SETITEMS with an odd number of items");
    if (!target->is(Kind::Dict)) fail(fmt::format("SETITEM on a {}", kind_name(target->kind)));
    set_items(*target, kv);
  }
  void append_to(const ValuePtr& target, std::vector<ValuePtr> items) {
    if (!target->is(Kind::List) && !target->is(Kind::Set)) fail(fmt::format("APPEND on a {}", kind_name(target->kind)));
    for (auto& i : items) target->items.push_back(std::move(i));
  }

  // ----- calling what GLOBAL named -----
  ValuePtr call(const ValuePtr& callable, const ValuePtr& args) {
    if (!args->is(Kind::Tuple)) fail("REDUCE arguments are not a tuple");
    const std::string name = callable->is(Kind::Global) ? callable->text : "";
    const auto& a = args->items;
    if (name == "collections.OrderedDict" || name == "builtins.dict") {
      auto d = make(Kind::Dict);
      if (!a.empty() && (a[0]->is(Kind::List) || a[0]->is(Kind::Tuple)))
        for (const auto& pair : a[0]->items)
          if (pair->is(Kind::Tuple) && pair->items.size() == 2) d->entries.emplace_back(pair->items[0], pair->items[1]);
      return d;
    }
    // Protocol 2 writes bytes as _codecs.encode(text, "latin1").
    if (name == "_codecs.encode" && a.size() == 2 && a[0]->is(Kind::String) && a[1]->is(Kind::String) &&
        a[1]->text == "latin1") {
      std::string bytes;
      for (size_t i = 0; i < a[0]->text.size(); ++i) {  // UTF-8 of code points < 256 -> one byte each
        const auto c = static_cast<unsigned char>(a[0]->text[i]);
        if (c >= 0xc0 && i + 1 < a[0]->text.size()) {
          bytes.push_back(static_cast<char>(((c & 0x1f) << 6) | (static_cast<unsigned char>(a[0]->text[++i]) & 0x3f)));
        } else {
          bytes.push_back(static_cast<char>(c));
        }
      }
      return make_text(Kind::Bytes, bytes);
    }
    if (name == "builtins.set" || name == "builtins.frozenset" || name == "__builtin__.set" ||
        name == "__builtin__.frozenset") {
      auto s = make(Kind::Set);
      if (!a.empty()) s->items = a[0]->items;
      return s;
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (a.size() < 4) fail(fmt::format("{} with {} arguments", name, a.size()));
      return rebuild_tensor(a[0], a[1], a[2], a[3]);
    }
    // nn.Parameter: (data, requires_grad, backward_hooks[, state]).
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || !a[0]->is(Kind::Tensor)) fail(fmt::format("{} without a tensor", name));
      return a[0];
    }
    // LibTorch's own pickler (torch::pickle_save) tags typed containers: restore_type_tag(obj, "Dict[str, Tensor]").
    if (name == "torch.jit._pickle.restore_type_tag" || name.starts_with("torch.jit._pickle.build_")) {
      if (a.empty()) fail(fmt::format("{} without arguments", name));
      return a[0];
    }
    // Tensor subclasses: (func, type, args, state) -> func(*args).
    if (name == "torch._tensor._rebuild_from_type_v2" || name == "torch._tensor._rebuild_from_type") {
      if (a.size() < 3) fail(fmt::format("{} with {} arguments", name, a.size()));
      return call(a[0], a[2]);
    }
    auto o = make_text(Kind::Object, name.empty() ? std::string("<") + kind_name(callable->kind) + ">" : name);
    o->items = a;
    return o;
  }

  ValuePtr rebuild_tensor(const ValuePtr& storage, const ValuePtr& offset, const ValuePtr& sizes,
                          const ValuePtr& strides) {
    if (!storage->is(Kind::Tensor) || !storage->tensor || !storage->tensor->sizes.empty() ||
        storage->tensor->offset != -1)
      fail("_rebuild_tensor_v2 without a storage");
    auto ints = [&](const ValuePtr& t, const char* what) {
      if (!t->is(Kind::Tuple) && !t->is(Kind::List)) fail(fmt::format("tensor {} is not a tuple", what));
      std::vector<int64_t> v;
      for (const auto& i : t->items) {
        if (!i->is(Kind::Int)) fail(fmt::format("tensor {} holds a {}", what, kind_name(i->kind)));
        v.push_back(i->integer);
      }
      return v;
    };
    if (!offset->is(Kind::Int)) fail("tensor offset is not an int");
    auto ref = std::make_shared<TensorRef>(*storage->tensor);
    ref->offset = offset->integer;
    ref->sizes = ints(sizes, "size");
    ref->strides = ints(strides, "stride");
    if (ref->sizes.size() != ref->strides.size()) fail("tensor size and stride differ in length");
    auto t = make(Kind::Tensor);
    t->tensor = std::move(ref);
    return t;
  }

  // ('storage', torch.FloatStorage, key, location, numel) -> a storage (a TensorRef
  // with offset -1 until _rebuild_tensor_v2 makes it a view).
  ValuePtr persistent_load(const ValuePtr& pid) {
    if (!pid->is(Kind::Tuple) || pid->items.size() < 5 || !pid->items[0]->is(Kind::String) ||
        pid->items[0]->text != "storage")
      fail("persistent id is not a ('storage', type, key, location, size) tuple");
    const auto& it = pid->items;
    if (!it[1]->is(Kind::Global)) fail("storage type is not a class");
    const auto dtype = storage_dtype(it[1]->text);
    if (!dtype) fail(fmt::format("unsupported storage type {}", it[1]->text));
    if (!it[2]->is(Kind::String) || !it[3]->is(Kind::String) || !it[4]->is(Kind::Int) || it[4]->integer < 0)
      fail("malformed storage tuple");
    auto ref = std::make_shared<TensorRef>();
    ref->storage_key = it[2]->text;
    ref->dtype = *dtype;
    ref->location = it[3]->text;
    ref->storage_numel = it[4]->integer;
    ref->offset = -1;
    auto t = make(Kind::Tensor);
    t->tensor = std::move(ref);
    return t;
  }

  static std::string unquote(const std::string& s) {
    if (s.size() >= 2 && (s.front() == '\'' || s.front() == '"') && s.back() == s.front())
      return s.substr(1, s.size() - 2);
    return s;
  }

  void step(unsigned char op) {
    switch (op) {
      case 0x80: {  // PROTO
        const auto proto = static_cast<unsigned char>(read_byte());
        if (proto > 5) fail(fmt::format("pickle protocol {} (this reader knows up to 5)", proto));
        break;
      }
      case 0x95:
        read_uint(8);
        break;  // FRAME: only a hint
      case '(':
        marks_.push_back(stack_.size());
        break;
      case '0':
        pop();
        break;
      case '1':
        pop_mark();
        break;
      case '2':
        push(top());
        break;
      case 'N':
        push(make(Kind::None));
        break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        auto b = make(Kind::Bool);
        b->boolean = op == 0x88;
        push(b);
        break;
      }
      case 'K':
        push(make_int(static_cast<int64_t>(read_uint(1))));
        break;
      case 'M':
        push(make_int(static_cast<int64_t>(read_uint(2))));
        break;
      case 'J':
        push(make_int(static_cast<int32_t>(static_cast<uint32_t>(read_uint(4)))));
        break;
      case 0x8a:
        push(make_int(read_long(read_uint(1))));
        break;  // LONG1
      case 0x8b:
        push(make_int(read_long(read_uint(4))));
        break;  // LONG4
      case 'I':
      case 'L': {  // INT, LONG (text)
        std::string line = read_line();
        if (!line.empty() && line.back() == 'L') line.pop_back();
        if (op == 'I' && (line == "00" || line == "01")) {
          auto b = make(Kind::Bool);
          b->boolean = line == "01";
          push(b);
          break;
        }
        try {
          push(make_int(std::stoll(line)));
        } catch (const std::exception&) {
          fail(fmt::format("bad integer '{}'", line));
        }
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        need(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(data_[pos_ + i]);
        pos_ += 8;
        auto f = make(Kind::Float);
        std::memcpy(&f->real, &bits, sizeof bits);
        push(f);
        break;
      }
      case 'F': {  // FLOAT (text)
        auto f = make(Kind::Float);
        const std::string line = read_line();
        try {
          f->real = std::stod(line);
        } catch (const std::exception&) {
          fail(fmt::format("bad float '{}'", line));
        }
        push(f);
        break;
      }
      case 'X':
        push(make_text(Kind::String, read_bytes(read_uint(4))));
        break;  // BINUNICODE
      case 0x8c:
        push(make_text(Kind::String, read_bytes(read_uint(1))));
        break;  // SHORT_BINUNICODE
      case 0x8d:
        push(make_text(Kind::String, read_bytes(read_uint(8))));
        break;  // BINUNICODE8
      case 'T':
        push(make_text(Kind::String, read_bytes(read_uint(4))));
        break;  // BINSTRING (py2 str)
      case 'U':
        push(make_text(Kind::String, read_bytes(read_uint(1))));
        break;  // SHORT_BINSTRING
      case 'S':
        push(make_text(Kind::String, unquote(read_line())));
        break;  // STRING
      case 'V':
        push(make_text(Kind::String, read_line()));
        break;  // UNICODE (raw-unicode-escape; escapes kept)
      case 'B':
        push(make_text(Kind::Bytes, read_bytes(read_uint(4))));
        break;  // BINBYTES
      case 'C':
        push(make_text(Kind::Bytes, read_bytes(read_uint(1))));
        break;  // SHORT_BINBYTES
      case 0x8e:
      case 0x96:
        push(make_text(Kind::Bytes, read_bytes(read_uint(8))));
        break;  // BINBYTES8, BYTEARRAY8
      case ')':
        push(make(Kind::Tuple));
        break;
      case 0x85:
        push(tuple({pop()}));
        break;
      case 0x86: {
        auto b = pop();
        auto a = pop();
        push(tuple({a, b}));
        break;
      }
      case 0x87: {
        auto c = pop();
        auto b = pop();
        auto a = pop();
        push(tuple({a, b, c}));
        break;
      }
      case 't':
        push(tuple(pop_mark()));
        break;
      case ']':
        push(make(Kind::List));
        break;
      case 'l': {
        auto l = make(Kind::List);
        l->items = pop_mark();
        push(l);
        break;
      }
      case '}':
        push(make(Kind::Dict));
        break;
      case 'd': {
        auto d = make(Kind::Dict);
        auto kv = pop_mark();
        if (kv.size() % 2) fail("DICT with an odd number of items");
        set_items(*d, kv);
        push(d);
        break;
      }
      case 0x8f:
        push(make(Kind::Set));
        break;      // EMPTY_SET
      case 0x91: {  // FROZENSET
        auto s = make(Kind::Set);
        s->items = pop_mark();
        push(s);
        break;
      }
      case 'a': {
        auto v = pop();
        append_to(top(), {v});
        break;
      }
      case 'e':
      case 0x90: {  // APPENDS, ADDITEMS
        auto items = pop_mark();
        append_to(top(), std::move(items));
        break;
      }
      case 's': {
        auto v = pop();
        auto k = pop();
        add_to_dict(top(), {k, v});
        break;
      }
      case 'u': {
        auto kv = pop_mark();
        add_to_dict(top(), std::move(kv));
        break;
      }
      case 'p': {
        const std::string line = read_line();
        try {
          memo_put(std::stoull(line));
        } catch (const std::invalid_argument&) {
          fail(fmt::format("bad memo index '{}'", line));
        }
        break;
      }
      case 'q':
        memo_put(read_uint(1));
        break;
      case 'r':
        memo_put(read_uint(4));
        break;
      case 0x94:
        memo_put(memo_.size());
        break;  // MEMOIZE
      case 'g': {
        const std::string line = read_line();
        try {
          memo_get(std::stoull(line));
        } catch (const std::invalid_argument&) {
          fail(fmt::format("bad memo index '{}'", line));
        }
        break;
      }
      case 'h':
        memo_get(read_uint(1));
        break;
      case 'j':
        memo_get(read_uint(4));
        break;
      case 'c': {  // GLOBAL "module\nname\n"
        std::string module = read_line();
        std::string name = read_line();
        push(make_text(Kind::Global, module + "." + name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        auto name = pop();
        auto module = pop();
        if (!name->is(Kind::String) || !module->is(Kind::String)) fail("STACK_GLOBAL without strings");
        push(make_text(Kind::Global, module->text + "." + name->text));
        break;
      }
      case 'R': {
        auto args = pop();
        auto callable = pop();
        push(call(callable, args));
        break;
      }
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
        auto args = pop();
        auto cls = pop();
        push(call(cls, args));
        break;
      }
      case 0x92: {  // NEWOBJ_EX: cls, args, kwargs
        pop();
        auto args = pop();
        auto cls = pop();
        push(call(cls, args));
        break;
      }
      case 'b': {  // BUILD: obj.__setstate__(state) or obj.__dict__.update(state)
        auto state = pop();
        top()->state = std::move(state);
        break;
      }
      case 'Q':
        push(persistent_load(pop()));
        break;
      case 'P':
        fail("text persistent ids (protocol 0) are not supported");
      default:
        fail(fmt::format("unsupported pickle opcode 0x{:02x}", op));
    }
  }

  const std::string& data_;
  std::string source_;
  size_t pos_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, ValuePtr> memo_;
};

}  // namespace

const Value* Value::get(const std::string& key) const {
  for (const auto& [k, v] : entries)
    if (k->is(Kind::String) && k->text == key) return v.get();
  return nullptr;
}

std::string Value::summary() const {
  switch (kind) {
    case Kind::None:
      return "None";
    case Kind::Bool:
      return boolean ? "True" : "False";
    case Kind::Int:
      return std::to_string(integer);
    case Kind::Float:
      return fmt::format("{}", real);
    case Kind::String:
      return fmt::format("'{}'", text.size() > 80 ? text.substr(0, 77) + "..." : text);
    case Kind::Bytes:
      return fmt::format("bytes({})", text.size());
    case Kind::Tuple:
    case Kind::List: {
      if (items.size() <= 4) {
        std::vector<std::string> parts;
        for (const auto& i : items) parts.push_back(i->summary());
        const std::string inner = fmt::format("{}", fmt::join(parts, ", "));
        return kind == Kind::Tuple ? "(" + inner + ")" : "[" + inner + "]";
      }
      return fmt::format("{}({} items)", kind_name(kind), items.size());
    }
    case Kind::Set:
      return fmt::format("set({} items)", items.size());
    case Kind::Dict:
      return fmt::format("dict({} entries)", entries.size());
    case Kind::Tensor:
      if (!tensor || tensor->offset < 0) return "storage";
      return fmt::format("tensor {} [{}]", c10::toString(tensor->dtype), fmt::join(tensor->sizes, ", "));
    case Kind::Global:
      return text;
    case Kind::Object:
      return text + "(...)";
  }
  return "?";
}

ValuePtr unpickle(const std::string& bytes, const std::string& source) { return Machine(bytes, source).run(); }

Archive::Archive(const fs::path& path) : path_(path) {
  std::string pickled;
  try {
    reader_ = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path.string());
    if (reader_->hasRecord("byteorder")) {
      auto [data, size] = reader_->getRecord("byteorder");
      const std::string order(static_cast<const char*>(data.get()), size);
      if (order.rfind("little", 0) != 0)
        throw Error(fmt::format("{}: tensors stored {}-endian are not supported", path.string(), order));
    }
    auto [data, size] = reader_->getRecord("data.pkl");
    pickled.assign(static_cast<const char*>(data.get()), size);
  } catch (const c10::Error& e) {
    throw Error(fmt::format("{}: truncated or corrupt checkpoint archive ({})", path.string(),
                            first_line(e.what_without_backtrace())));
  }
  root_ = unpickle(pickled, path.string());
}

Archive::~Archive() = default;

torch::Tensor Archive::tensor(const TensorRef& ref, const std::string& name) {
  auto it = storages_.find(ref.storage_key);
  if (it == storages_.end()) {
    const std::string record = "data/" + ref.storage_key;
    const auto element = static_cast<int64_t>(c10::elementSize(ref.dtype));
    std::shared_ptr<at::DataPtr> owner;
    size_t size = 0;
    try {
      if (!reader_->hasRecord(record))
        throw Error(fmt::format("{}: tensor '{}': storage record {} is missing", path_.string(), name, record));
      auto [data, bytes] = reader_->getRecord(record);
      owner = std::make_shared<at::DataPtr>(std::move(data));
      size = bytes;
    } catch (const c10::Error& e) {
      throw Error(fmt::format("{}: tensor '{}': truncated or corrupt storage ({})", path_.string(), name,
                              first_line(e.what_without_backtrace())));
    }
    // torch.save writes each storage's bytes exactly: any other size means a wrong dtype or a damaged file.
    uint64_t expected = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(ref.storage_numel), static_cast<uint64_t>(element), &expected) ||
        expected != size)
      throw Error(
          fmt::format("{}: tensor '{}': storage {} holds {} bytes, not the {} elements of {} bytes its header says",
                      path_.string(), name, ref.storage_key, size, ref.storage_numel, element));
    torch::Tensor storage = ref.storage_numel == 0 ? torch::empty({0}, torch::TensorOptions().dtype(ref.dtype))
                                                   : torch::from_blob(
                                                         owner->get(), {ref.storage_numel}, [owner](void*) {},
                                                         torch::TensorOptions().dtype(ref.dtype));
    it = storages_.emplace(ref.storage_key, storage).first;
  }
  // The view must lie inside the storage.
  int64_t last = ref.offset, numel = 1;
  for (size_t d = 0; d < ref.sizes.size(); ++d) {
    if (ref.sizes[d] < 0 || ref.strides[d] < 0)
      throw Error(fmt::format("{}: tensor '{}': negative size or stride", path_.string(), name));
    int64_t reach = 0;
    if (__builtin_mul_overflow(numel, ref.sizes[d], &numel) ||
        (ref.sizes[d] > 0 && (__builtin_mul_overflow(ref.sizes[d] - 1, ref.strides[d], &reach) ||
                              __builtin_add_overflow(last, reach, &last))))
      throw Error(fmt::format("{}: tensor '{}': size or stride out of range", path_.string(), name));
  }
  if (ref.offset < 0 || (numel > 0 && last >= ref.storage_numel))
    throw Error(fmt::format("{}: tensor '{}' [{}] reaches element {} of a storage of {}", path_.string(), name,
                            fmt::join(ref.sizes, ", "), last, ref.storage_numel));
  return it->second.as_strided(ref.sizes, ref.strides, ref.offset);
}

}  // namespace clipscope::pickle
