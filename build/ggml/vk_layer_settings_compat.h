// vk_layer_settings_compat.h: declarations of VK_EXT_layer_settings for
// Vulkan headers older than 1.3.261 (Debian 12 ships 1.3.239).
//
// ggml-vulkan.cpp uses the extension only to switch on the validation layer's
// best-practice checks, and only when the layer reports the extension at run
// time. build/ggml/CMakeLists.txt force-includes this file into ggml-vulkan.cpp
// alone; with newer headers it declares nothing. The layout and values follow
// the Vulkan registry (extension 497), so the struct is valid in a pNext chain.
#ifndef XRAYGPT_VK_LAYER_SETTINGS_COMPAT_H
#define XRAYGPT_VK_LAYER_SETTINGS_COMPAT_H

#if defined(__cplusplus)
#include <cstdint>
#include <vector>
#include <vulkan/vulkan_core.h>

#if !defined(VK_EXT_layer_settings)
namespace vk {

enum class LayerSettingTypeEXT : int32_t {
    eBool32 = 0,
    eInt32 = 1,
    eInt64 = 2,
    eUint32 = 3,
    eUint64 = 4,
    eFloat32 = 5,
    eFloat64 = 6,
    eString = 7,
};

struct LayerSettingEXT {
    const char *pLayerName;
    const char *pSettingName;
    LayerSettingTypeEXT type;
    uint32_t valueCount;
    const void *pValues;
};

struct LayerSettingsCreateInfoEXT {
    VkStructureType sType = static_cast<VkStructureType>(1000496000);
    const void *pNext = nullptr;
    uint32_t settingCount = 0;
    const LayerSettingEXT *pSettings = nullptr;

    explicit LayerSettingsCreateInfoEXT(const std::vector<LayerSettingEXT> &settings)
        : settingCount(static_cast<uint32_t>(settings.size())), pSettings(settings.data()) {}
};

} // namespace vk
#endif // !VK_EXT_layer_settings
#endif // __cplusplus

#endif // XRAYGPT_VK_LAYER_SETTINGS_COMPAT_H
