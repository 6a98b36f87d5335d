// The pickle machine on what Python's pickle writes, and torch.save archives that
// lie: every bad case is one Error line naming the file and the tensor.
#include "core/model/torch_pickle.h"

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>

#include "core/model/checkpoint.h"
#include "support/shared_data.h"

using namespace clipscope;
using pickle::Value;
using Kind = Value::Kind;
namespace fs = std::filesystem;

namespace {

// pickle.dumps(od, protocol=P) of
//   od = OrderedDict(a=1, b=-300, c=2**40, n=-2**40, d=1.5, e='héllo', f=(1, 2, 3),
//                    g=[None, True, False], h={'x': b'\x00\x01'}, s={7})
//   od._metadata = OrderedDict([('', {'version': 1})])
// made with CPython 3.11's pickle module.
const std::string kProtocol2(
    "\x80\x02\x63\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65\x72\x65\x64\x44\x69\x63\x74\x0a\x71"
    "\x00\x29\x52\x71\x01\x28\x58\x01\x00\x00\x00\x61\x71\x02\x4b\x01\x58\x01\x00\x00\x00\x62\x71\x03\x4a\xd4\xfe\xff"
    "\xff\x58\x01\x00\x00\x00\x63\x71\x04\x8a\x06\x00\x00\x00\x00\x00\x01\x58\x01\x00\x00\x00\x6e\x71\x05\x8a\x06\x00"
    "\x00\x00\x00\x00\xff\x58\x01\x00\x00\x00\x64\x71\x06\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x58\x01\x00\x00\x00\x65"
    "\x71\x07\x58\x06\x00\x00\x00\x68\xc3\xa9\x6c\x6c\x6f\x71\x08\x58\x01\x00\x00\x00\x66\x71\x09\x4b\x01\x4b\x02\x4b"
    "\x03\x87\x71\x0a\x58\x01\x00\x00\x00\x67\x71\x0b\x5d\x71\x0c\x28\x4e\x88\x89\x65\x58\x01\x00\x00\x00\x68\x71\x0d"
    "\x7d\x71\x0e\x58\x01\x00\x00\x00\x78\x71\x0f\x63\x5f\x63\x6f\x64\x65\x63\x73\x0a\x65\x6e\x63\x6f\x64\x65\x0a\x71"
    "\x10\x58\x02\x00\x00\x00\x00\x01\x71\x11\x58\x06\x00\x00\x00\x6c\x61\x74\x69\x6e\x31\x71\x12\x86\x71\x13\x52\x71"
    "\x14\x73\x58\x01\x00\x00\x00\x73\x71\x15\x63\x5f\x5f\x62\x75\x69\x6c\x74\x69\x6e\x5f\x5f\x0a\x73\x65\x74\x0a\x71"
    "\x16\x5d\x71\x17\x4b\x07\x61\x85\x71\x18\x52\x71\x19\x75\x7d\x71\x1a\x58\x09\x00\x00\x00\x5f\x6d\x65\x74\x61\x64"
    "\x61\x74\x61\x71\x1b\x68\x00\x29\x52\x71\x1c\x58\x00\x00\x00\x00\x71\x1d\x7d\x71\x1e\x58\x07\x00\x00\x00\x76\x65"
    "\x72\x73\x69\x6f\x6e\x71\x1f\x4b\x01\x73\x73\x73\x62\x2e",
    322);
const std::string kProtocol4(
    "\x80\x04\x95\xbe\x00\x00\x00\x00\x00\x00\x00\x8c\x0b\x63\x6f\x6c\x6c\x65\x63\x74\x69\x6f\x6e\x73\x94\x8c\x0b\x4f"
    "\x72\x64\x65\x72\x65\x64\x44\x69\x63\x74\x94\x93\x94\x29\x52\x94\x28\x8c\x01\x61\x94\x4b\x01\x8c\x01\x62\x94\x4a"
    "\xd4\xfe\xff\xff\x8c\x01\x63\x94\x8a\x06\x00\x00\x00\x00\x00\x01\x8c\x01\x6e\x94\x8a\x06\x00\x00\x00\x00\x00\xff"
    "\x8c\x01\x64\x94\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x8c\x01\x65\x94\x8c\x06\x68\xc3\xa9\x6c\x6c\x6f\x94\x8c\x01"
    "\x66\x94\x4b\x01\x4b\x02\x4b\x03\x87\x94\x8c\x01\x67\x94\x5d\x94\x28\x4e\x88\x89\x65\x8c\x01\x68\x94\x7d\x94\x8c"
    "\x01\x78\x94\x43\x02\x00\x01\x94\x73\x8c\x01\x73\x94\x8f\x94\x28\x4b\x07\x90\x75\x7d\x94\x8c\x09\x5f\x6d\x65\x74"
    "\x61\x64\x61\x74\x61\x94\x68\x02\x29\x52\x94\x8c\x00\x94\x7d\x94\x8c\x07\x76\x65\x72\x73\x69\x6f\x6e\x94\x4b\x01"
    "\x73\x73\x73\x62\x2e",
    201);

void expect_sample(const Value& od) {
  ASSERT_TRUE(od.is(Kind::Dict));
  ASSERT_EQ(od.entries.size(), 10u);
  EXPECT_EQ(od.entries[0].first->text, "a");  // insertion order kept
  EXPECT_EQ(od.get("a")->integer, 1);
  EXPECT_EQ(od.get("b")->integer, -300);
  EXPECT_EQ(od.get("c")->integer, int64_t{1} << 40);
  EXPECT_EQ(od.get("n")->integer, -(int64_t{1} << 40));
  EXPECT_DOUBLE_EQ(od.get("d")->real, 1.5);
  EXPECT_EQ(od.get("e")->text, "h\xc3\xa9llo");
  ASSERT_TRUE(od.get("f")->is(Kind::Tuple));
  EXPECT_EQ(od.get("f")->items.size(), 3u);
  EXPECT_EQ(od.get("f")->items[2]->integer, 3);
  const Value* g = od.get("g");
  ASSERT_TRUE(g->is(Kind::List));
  ASSERT_EQ(g->items.size(), 3u);
  EXPECT_TRUE(g->items[0]->is(Kind::None));
  EXPECT_TRUE(g->items[1]->boolean);
  EXPECT_FALSE(g->items[2]->boolean);
  const Value* x = od.get("h")->get("x");
  ASSERT_TRUE(x->is(Kind::Bytes)) << x->summary();
  EXPECT_EQ(x->text, std::string("\x00\x01", 2));
  ASSERT_TRUE(od.get("s")->is(Kind::Set));
  EXPECT_EQ(od.get("s")->items.at(0)->integer, 7);
  // _metadata arrives through BUILD, as the OrderedDict's attribute, not an entry.
  EXPECT_EQ(od.get("_metadata"), nullptr);
  ASSERT_TRUE(od.state && od.state->is(Kind::Dict));
  EXPECT_EQ(od.state->get("_metadata")->get("")->get("version")->integer, 1);
}

TEST(Unpickle, ReadsWhatPythonWritesAtProtocols2And4) {
  expect_sample(*pickle::unpickle(kProtocol2, "p2"));
  expect_sample(*pickle::unpickle(kProtocol4, "p4"));
}

TEST(Unpickle, DamagedPicklesAreOneLineErrors) {
  using clipscope::testing::error_message;
  // Cut anywhere: every prefix fails cleanly (never a crash or a read past the end).
  for (size_t n = 0; n + 1 < kProtocol4.size(); ++n) {
    const std::string msg = error_message([&] { pickle::unpickle(kProtocol4.substr(0, n), "cut.pkl"); });
    ASSERT_NE(msg, "") << "prefix " << n;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
    EXPECT_EQ(msg.rfind("cut.pkl: corrupt pickle at byte", 0), 0u) << msg;
  }
  EXPECT_NE(error_message([] {
              pickle::unpickle(std::string("\x80\x02\xff", 3), "x");
            }).find("unsupported pickle opcode 0xff"),
            std::string::npos);
  EXPECT_NE(error_message([] { pickle::unpickle(std::string("\x80\x02h\x05.", 5), "x"); }).find("memo entry 5"),
            std::string::npos);
  EXPECT_NE(error_message([] { pickle::unpickle(std::string("\x80\x02s.", 4), "x"); }).find("stack underflow"),
            std::string::npos);
  EXPECT_NE(error_message([] { pickle::unpickle(std::string("\x80\x09.", 3), "x"); }).find("protocol 9"),
            std::string::npos);
}

// A torch.save archive with the given data.pkl and storage records, written with
// LibTorch's own zip writer.
fs::path write_archive(const std::string& name, const std::string& data_pkl,
                       const std::vector<std::pair<std::string, std::string>>& records) {
  const fs::path path = clipscope::testing::temp_dir() / name;
  caffe2::serialize::PyTorchStreamWriter writer(path.string());
  writer.writeRecord("data.pkl", data_pkl.data(), data_pkl.size());
  for (const auto& [record, bytes] : records) writer.writeRecord(record, bytes.data(), bytes.size());
  writer.writeEndOfFile();
  return path;
}

// {"w": _rebuild_tensor_v2(storage('0', FloatStorage, numel), 0, size, stride, False, OrderedDict())}
std::string tensor_pickle(const std::string& storage_type, uint8_t numel, uint8_t rows, uint8_t cols) {
  using namespace std::string_literals;
  std::string p =
      "\x80\x02}q\x00X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\n"s;
  p += storage_type +
       "\nX\x01\x00\x00\x00"
       "0X\x03\x00\x00\x00"
       "cpuK"s;
  p += static_cast<char>(numel);
  p += "tQK\x00K"s;
  p += static_cast<char>(rows);
  p += "K";
  p += static_cast<char>(cols);
  p += "\x86K";
  p += static_cast<char>(cols);
  p += "K\x01\x86\x89"
       "ccollections\nOrderedDict\n)RtRs.";
  return p;
}

std::string floats(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) + 0.5f;
  return std::string(reinterpret_cast<const char*>(v.data()), n * sizeof(float));
}

TEST(TorchArchive, ReadsTensorViewsOfStorages) {
  const fs::path path = write_archive("ok.pt", tensor_pickle("FloatStorage", 6, 2, 3), {{"data/0", floats(6)}});
  pickle::Archive archive(path);
  const Value* w = archive.root().get("w");
  ASSERT_TRUE(w && w->is(Kind::Tensor));
  torch::Tensor t = archive.tensor(*w->tensor, "w");
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_FLOAT_EQ(t[1][2].item<float>(), 5.5f);
  EXPECT_EQ(w->summary(), "tensor Float [2, 3]");
}

TEST(TorchArchive, ArchivesThatLieAreOneLineErrors) {
  using clipscope::testing::error_message;
  auto read = [](const fs::path& p) {
    return error_message([&] {
      Checkpoint c = read_checkpoint(p);
      (void)c;
    });
  };
  // The view reaches past its storage (2x3 over 4 floats).
  std::string msg =
      read(write_archive("short_view.pt", tensor_pickle("FloatStorage", 4, 2, 3), {{"data/0", floats(4)}}));
  EXPECT_NE(msg.find("short_view.pt: tensor 'w' [2, 3] reaches element 5 of a storage of 4"), std::string::npos) << msg;
  // The storage record is shorter than the header says.
  msg = read(write_archive("short_storage.pt", tensor_pickle("FloatStorage", 6, 2, 3), {{"data/0", floats(5)}}));
  EXPECT_NE(msg.find("short_storage.pt: tensor 'w': storage 0 holds 20 bytes, not the 6 elements of 4 bytes"),
            std::string::npos)
      << msg;
  // Wrong dtype: float32 bytes called half.
  msg = read(write_archive("wrong_dtype.pt", tensor_pickle("HalfStorage", 6, 2, 3), {{"data/0", floats(6)}}));
  EXPECT_NE(msg.find("wrong_dtype.pt: tensor 'w': storage 0 holds 24 bytes, not the 6 elements of 2 bytes"),
            std::string::npos)
      << msg;
  msg = read(write_archive("odd_type.pt", tensor_pickle("QuantStorage", 6, 2, 3), {{"data/0", floats(6)}}));
  EXPECT_NE(msg.find("unsupported storage type torch.QuantStorage"), std::string::npos) << msg;
  // The storage record is missing.
  msg = read(write_archive("no_storage.pt", tensor_pickle("FloatStorage", 6, 2, 3), {}));
  EXPECT_NE(msg.find("no_storage.pt: tensor 'w': storage record data/0 is missing"), std::string::npos) << msg;
  // A pickle that is not a dict.
  msg = read(write_archive("list.pt", std::string("\x80\x02]q\x00.", 6), {}));
  EXPECT_NE(msg.find("list.pt: torch.save archive holds a [], not a dict of tensors"), std::string::npos) << msg;
  for (const auto& m : {msg}) EXPECT_EQ(m.find('\n'), std::string::npos);
}

}  // namespace
