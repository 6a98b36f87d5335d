#pragma once
// Other names of a point, as CLIPImpl::resolve_point accepts them: Microscope's
// (image_block_4/2/Add_6), the circuits follow-up's (4/2/5, 4/2/6) and the ReLU-input form
// of a residual sum (visual.layer4.2.relu3:input). `clipscope layers` prints them.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace clipscope {

std::vector<std::string> point_aliases(const std::string& canonical);

// The follow-up's unit names, "4/2/6/34" (or 4/2/5/34, 4/2/Add_6/34): the point's name
// and the unit list after its last '/', as "LAYER:UNITS" splits at its ':'; nullopt for
// any other text.
std::optional<std::pair<std::string, std::string>> split_followup_unit(const std::string& text);

}  // namespace clipscope
