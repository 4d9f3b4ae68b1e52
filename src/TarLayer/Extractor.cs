using Csshim.TarLayer.Posix;

namespace Csshim.TarLayer;

/// <summary>
/// Restores an archive into an empty directory so that it is a valid overlay upperdir: whiteouts are made as 0/0
/// character devices and opaque markers as xattrs, for overlayfs to interpret when the directory is mounted.
/// </summary>
internal sealed class Extractor : TreeRestorer
{
    readonly NewNodeDefaults _newNodes;

    public Extractor(string destination) : base(destination) => _newNodes = NewNodeDefaults.Below(Root);

    protected override NewNodeDefaults NewNodes => _newNodes;

    public bool IsEmpty() => Fs.ReadDir(Root, out var children) == 0 && children.Count == 0;

    protected override bool LinksWhiteouts => true;

    protected override void Whiteout(int pfd, RestoreStep s) => CreateNode(pfd, s.Leaf, s.Entry);

    /// <summary>Best effort after a failure (the failure is what the caller reports): remove everything below the destination.</summary>
    public void RemoveAllChildren()
    {
        AbandonCopies();
        DropCache();
        if (Fs.ReadDir(Root, out var children) != 0) return;
        foreach (var (name, _) in children) TreeRemover.Remove(Root, name);
    }
}
