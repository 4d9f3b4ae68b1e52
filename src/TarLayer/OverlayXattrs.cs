namespace Csshim.TarLayer;

/// <summary>
/// overlayfs keeps bookkeeping in trusted.overlay.* (user.overlay.* with userxattr) on its upper layer: origin file
/// handles, the layer uuid, redirects, impure and nlink markers. They describe one mount's lower layers and mean
/// nothing, or something wrong, under another: only the opaque marker is part of the format (FORMAT.md). The others
/// are neither written nor restored.
/// </summary>
static class OverlayXattrs
{
    public static bool IsPrivate(string name)
    {
        var rest = name.StartsWith("trusted.overlay.", StringComparison.Ordinal) ? name["trusted.overlay.".Length..]
            : name.StartsWith("user.overlay.", StringComparison.Ordinal) ? name["user.overlay.".Length..]
            : null;
        return rest is not null && rest != "opaque";
    }
}
