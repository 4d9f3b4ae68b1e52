namespace Csshim.TarLayer;

/// <summary>What an archive has put at a path so far.</summary>
internal enum NodeKind { Directory, Symlink, Other, Whiteout }

internal enum StepAction { Root, Directory, File, Symlink, HardLink, Node, Whiteout }

/// <summary>
/// One admitted entry: where it goes (Parent/Leaf below the destination), the parent directories it implies that no
/// earlier entry made (shallowest first), what the path holds after it (for a hard link: what its target is) and,
/// for a hard link, the normalised target.
/// </summary>
internal sealed record RestoreStep(TarEntry Entry, StepAction Action, string Rel, string Parent, string Leaf,
    IReadOnlyList<string> ImpliedParents, NodeKind Kind, string? LinkTarget = null);

/// <summary>
/// The archive-level rules every restore shares (Extract, Validate, ApplyInPlace): name normalisation, entry types and
/// the device policy, hard-link targets, duplicates, the two budgets. They are decided from the archive alone, by
/// tracking what each path holds so far, never from what a destination happens to contain, so every restore mode
/// accepts and refuses the same archives with the same messages. Each entry is admitted (or refused) before anything
/// is written for it.
/// </summary>
internal sealed class RestoreRules(ExtractOptions options)
{
    static readonly IReadOnlyList<string> NoParents = [];
    readonly Dictionary<string, NodeKind> _nodes = new(StringComparer.Ordinal);
    // Directory entries by path, the last one of a name winning (its metadata is applied after all entries).
    readonly Dictionary<string, TarEntry> _dirs = new(StringComparer.Ordinal);

    public TarEntry? RootEntry { get; private set; }
    /// <summary>Entries read plus the parent directories they imply that no earlier entry made.</summary>
    public long Entries { get; private set; }
    /// <summary>Declared data of all regular files.</summary>
    public long Bytes { get; private set; }

    public NodeKind? KindOf(string rel) => _nodes.TryGetValue(rel, out var k) ? k : null;

    /// <summary>Every directory the archive made, deepest first, with its last entry (null when only implied by children).</summary>
    public IEnumerable<(string Rel, TarEntry? Entry)> DirectoriesDeepestFirst() =>
        _nodes.Where(n => n.Value == NodeKind.Directory)
            .Select(n => (n.Key, _dirs.GetValueOrDefault(n.Key)))
            .OrderByDescending(d => d.Key.Count(c => c == '/'));

    /// <summary>Last directory entries that carry the opaque marker.</summary>
    public IEnumerable<string> OpaqueDirectories() =>
        _dirs.Where(d => UpperXattrs.MarksOpaque(d.Value)).Select(d => d.Key);

    public RestoreStep Admit(TarEntry e)
    {
        if (++Entries > options.MaxEntries) throw Reject(e, $"archive exceeds the entry budget of {options.MaxEntries} entries");
        e.Xattrs.RemoveAll(x => UpperXattrs.IsPrivate(x.Key));
        var rel = EntryPath.Normalize(e.Name);
        if (rel.Length == 0)
        {
            if (e.Type != TarEntryType.Directory) throw Reject(e, "the root entry is not a directory");
            DecodeAcls(e);
            RootEntry = e;
            return new RestoreStep(e, StepAction.Root, "", "", "", NoParents, NodeKind.Directory);
        }
        if (e.Type is TarEntryType.CharDevice or TarEntryType.BlockDevice && !e.IsWhiteout && !options.AllowDevices)
            throw Reject(e, $"device nodes are not allowed ({(e.Type == TarEntryType.CharDevice ? "char" : "block")} {e.DevMajor}/{e.DevMinor})");

        string? linkTarget = null;
        var kind = e.Type switch
        {
            TarEntryType.Directory => NodeKind.Directory,
            TarEntryType.Symlink => NodeKind.Symlink,
            _ when e.IsWhiteout => NodeKind.Whiteout,
            _ => NodeKind.Other,
        };
        if (e.Type == TarEntryType.HardLink)
        {
            linkTarget = EntryPath.Normalize(e.LinkName, "hard link target", e.Name);
            if (linkTarget == rel) throw Reject(e, "hard link to itself");
            kind = KindOf(linkTarget) switch
            {
                null => throw Reject(e, $"hard link target '{TarEntry.Display(e.LinkName)}' was not extracted before it"),
                NodeKind.Directory => throw Reject(e, $"hard link target '{TarEntry.Display(e.LinkName)}' is a directory"),
                var k => k.Value,
            };
        }
        if (e.Type == TarEntryType.Symlink && (e.LinkName.Length == 0 || e.LinkName.Length >= EntryPath.PathMax || e.LinkName.Contains('\0')))
            throw Reject(e, "invalid symlink target");

        var (parent, leaf) = EntryPath.Split(rel);
        var implied = ImpliedParents(e, parent);
        if (implied.Count > 0 && Entries + implied.Count > options.MaxEntries)
            throw Reject(e, $"archive exceeds the entry budget of {options.MaxEntries} entries (counting the {implied.Count} parent directories it creates)");
        if (e.Type == TarEntryType.File && e.Size > options.MaxBytes - Bytes)
            throw Reject(e, $"size {e.Size} exceeds the byte budget of {options.MaxBytes} bytes");
        if (kind != NodeKind.Directory && KindOf(rel) == NodeKind.Directory)
            throw Reject(e, "a directory of that name already exists");
        // An in-place restore empties an opaque directory as soon as it is listed; a later plain entry of it could
        // not bring the tree's contents back.
        if (e.Type == TarEntryType.Directory && _dirs.TryGetValue(rel, out var earlier) && UpperXattrs.MarksOpaque(earlier) != UpperXattrs.MarksOpaque(e))
            throw Reject(e, "the directory is listed both as opaque and as not opaque");
        DecodeAcls(e);

        Entries += implied.Count;
        foreach (var dir in implied) _nodes[dir] = NodeKind.Directory;
        _nodes[rel] = kind;
        if (kind == NodeKind.Directory && e.Type == TarEntryType.Directory) _dirs[rel] = e;
        if (e.Type == TarEntryType.File) Bytes += e.Size;
        var action = e.Type switch
        {
            TarEntryType.Directory => StepAction.Directory,
            TarEntryType.File => StepAction.File,
            TarEntryType.Symlink => StepAction.Symlink,
            TarEntryType.HardLink => StepAction.HardLink,
            _ when e.IsWhiteout => StepAction.Whiteout,
            _ => StepAction.Node,
        };
        return new RestoreStep(e, action, rel, parent, leaf, implied, kind, linkTarget);
    }

    /// <summary>
    /// The parents of an entry must be directories this archive made, or be new; a path through something else the
    /// archive made is refused. Known paths always have known directory parents, so one lookup usually settles it.
    /// </summary>
    IReadOnlyList<string> ImpliedParents(TarEntry e, string parent)
    {
        if (parent.Length == 0 || KindOf(parent) == NodeKind.Directory) return NoParents;
        List<string>? implied = null;
        for (int end = parent.IndexOf('/'); ; end = parent.IndexOf('/', end + 1))
        {
            var prefix = end < 0 ? parent : parent[..end];
            switch (KindOf(prefix))
            {
                case NodeKind.Symlink: throw Reject(e, "path passes through a symlink (would escape the destination)");
                case NodeKind.Other or NodeKind.Whiteout: throw Reject(e, "path passes through a symlink or non-directory");
                case null: (implied ??= []).Add(prefix); break;
            }
            if (end < 0) return implied ?? NoParents;
        }
    }

    /// <summary>ACLs arrive base64-encoded from runsc and raw from GNU tar; the kernel wants raw.</summary>
    static void DecodeAcls(TarEntry e)
    {
        for (int i = 0; i < e.Xattrs.Count; i++)
        {
            var (name, value) = e.Xattrs[i];
            if (!Acl.IsAclXattr(name) || Acl.IsRaw(value)) continue;
            e.Xattrs[i] = new(name, Acl.DecodeBase64(value) ?? throw Reject(e, $"xattr {name} is neither a raw ACL nor base64"));
        }
    }

    static ArchiveRejectedException Reject(TarEntry e, string reason) => Reject(e.Name, reason);

    public static ArchiveRejectedException Reject(string entry, string reason) =>
        new($"entry '{TarEntry.Display(entry)}': {reason}");
}
