namespace Csshim.TarLayer;

/// <summary>
/// Which extended attributes belong in an upper-layer archive. overlayfs keeps bookkeeping in trusted.overlay.*
/// (user.overlay.* with userxattr) on its upper layer: origin file handles, the layer uuid, impure and nlink markers.
/// They describe one mount's lower layers and mean nothing, or something wrong, under another, so they are neither
/// written nor restored; only the opaque marker is part of the format (docs/FORMAT.md). csshim's own marker xattrs
/// (UpperArchive.PrivateXattrPrefix) are treated the same way. Two overlay markers say that the upper entry is not
/// self-contained, so a snapshot that dropped them would restore to something else: those fail the snapshot.
/// </summary>
static class UpperXattrs
{
    const string Trusted = "trusted.overlay.", User = "user.overlay.";

    /// <summary>Never archived, never restored, never removed by an in-place restore.</summary>
    public static bool IsPrivate(string name) =>
        name.StartsWith(UpperArchive.PrivateXattrPrefix, StringComparison.Ordinal)
        || OverlayName(name) is { } rest && rest != "opaque";

    /// <summary>trusted.overlay.opaque or user.overlay.opaque, whatever its value.</summary>
    public static bool IsOpaqueMarker(string name) => OverlayName(name) == "opaque";

    /// <summary>The entry is an opaque directory: nothing below it shows through.</summary>
    public static bool MarksOpaque(TarEntry e) =>
        e.Xattrs.Any(x => IsOpaqueMarker(x.Key) && x.Value.AsSpan().SequenceEqual("y"u8));

    /// <summary>Why an upper entry carrying this xattr cannot be archived, or null when it can.</summary>
    public static string? Unarchivable(string name) => OverlayName(name) switch
    {
        "redirect" => $"overlayfs redirect ({TarEntry.Display(name)}): a directory renamed inside the overlay keeps its content "
            + "in the lower layer under its old name, which an upper-layer archive cannot carry (mount with redirect_dir=off)",
        "metacopy" => $"overlayfs metadata-only copy-up ({TarEntry.Display(name)}): the file's data is still in the lower layer, "
            + "the upper file holds none of it (mount with metacopy=off)",
        _ => null,
    };

    /// <summary>"redirect" for trusted.overlay.redirect or user.overlay.redirect; null for other namespaces.</summary>
    static string? OverlayName(string name) =>
        name.StartsWith(Trusted, StringComparison.Ordinal) ? name[Trusted.Length..]
        : name.StartsWith(User, StringComparison.Ordinal) ? name[User.Length..]
        : null;
}
