#include "docs/types.hpp"

#include <gtest/gtest.h>

#include "ot/json_codec.hpp"

namespace office::docs {
namespace {

TEST(DocsTypes, RolesAndGranteesRoundTrip) {
  for (Role r : {Role::kViewer, Role::kCommenter, Role::kEditor, Role::kOwner})
    EXPECT_EQ(parse_role(role_name(r)), r);
  EXPECT_EQ(parse_role("none"), std::nullopt);
  EXPECT_EQ(parse_role("Editor"), std::nullopt);
  EXPECT_LT(Role::kCommenter, Role::kEditor);
  for (GranteeKind k : {GranteeKind::kUser, GranteeKind::kGroup, GranteeKind::kTenant})
    EXPECT_EQ(parse_grantee_kind(grantee_kind_name(k)), k);
}

TEST(DocsTypes, ShareDbFieldsAreSerialisedOnce) {
  auto edit = std::make_shared<CommittedOp>();
  edit->op = *ot::parse_op(R"([3,"hé\"😀",{"d":2}])");
  const std::string& a = edit->sharedb_fields();
  EXPECT_EQ(a, R"("op":[3,"hé\"😀",{"d":2}])");
  EXPECT_EQ(&a, &edit->sharedb_fields());  // the same string, not a new one
  auto create = std::make_shared<CommittedOp>();
  create->kind = CommittedOp::Kind::kCreate;
  create->create_text = "line\n\"q\"";
  EXPECT_EQ(create->sharedb_fields(),
            R"("create":{"type":"http://sharejs.org/types/text-unicode","data":"line\n\"q\""})");
  auto del = std::make_shared<CommittedOp>();
  del->kind = CommittedOp::Kind::kDelete;
  EXPECT_EQ(del->sharedb_fields(), R"("del":true)");
}

}  // namespace
}  // namespace office::docs
