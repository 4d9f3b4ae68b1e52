namespace Csshim.Snapshot.Tests;

/// <summary>Deletions of lower-layer (image) content survive a snapshot as overlay whiteouts and opaque dirs.</summary>
[PerRuntimeAndMode]
public class DeletionTests(string runtime, string mode) : SnapshotFixture(runtime, mode)
{
    [Test]
    public void RemovedLowerFile_IsAbsentAfterRestore()
    {
        LowerFile("data/gone", "old\n");
        LowerFile("data/kept", "kept\n");
        var archive = SnapshotAfter("rm /data/gone");

        var whiteout = ArchiveContents.Read(archive).GetValueOrDefault("./data/gone");
        Assert.That(whiteout, Is.Not.Null, "no entry for the deleted file");
        Assert.That(whiteout!.IsWhiteout, Is.True, $"./data/gone should be a char 0/0 whiteout, is {whiteout}");
        var restored = RunRestored(archive, "ls -A /data");
        AssertSucceeded(restored, "restored run");
        Assert.That(restored.Stdout, Is.EqualTo("kept\n"));
    }

    [Test]
    public void RecreatedLowerDir_ShowsOnlyItsNewContent()
    {
        LowerFile("ldir/a", "a\n");
        LowerFile("ldir/sub/b", "b\n");
        var archive = SnapshotAfter("rm -rf /ldir && mkdir /ldir && echo only > /ldir/only");

        var entries = ArchiveContents.Read(archive);
        Assert.That(entries.GetValueOrDefault("./ldir/")?.Xattr("trusted.overlay.opaque"), Is.EqualTo("y"),
            "the recreated dir should be opaque in the archive");
        var restored = RunRestored(archive, "ls -A /ldir && cat /ldir/only");
        AssertSucceeded(restored, "restored run");
        Assert.That(restored.Stdout, Is.EqualTo("only\nonly\n"));
    }

    [Test]
    public void EveryWhiteout_IsItsOwnEntry_NotAHardLink()
    {
        foreach (var name in new[] { "w1", "w2", "w3" }) LowerFile("many/" + name, name);
        var archive = SnapshotAfter("rm /many/w1 /many/w2 /many/w3");

        var entries = ArchiveContents.Read(archive);
        Assert.Multiple(() =>
        {
            foreach (var name in new[] { "./many/w1", "./many/w2", "./many/w3" })
                Assert.That(entries.GetValueOrDefault(name)?.IsWhiteout, Is.True, $"{name}: {entries.GetValueOrDefault(name)}");
        });
        Assert.That(RunRestored(archive, "ls -A /many").Stdout, Is.Empty);
    }

    /// <summary>overlayfs puts its own bookkeeping (trusted.overlay.origin file handles, the layer's .uuid) on the
    /// upper; it describes this mount's lower layers and must not travel: only the opaque marker is format.</summary>
    [Test]
    public void OverlayBookkeeping_StaysOutOfTheSnapshot()
    {
        LowerFile("data/gone", "old\n");
        var archive = SnapshotAfter("rm /data/gone");

        var entries = ArchiveContents.Read(archive);
        var overlayRecords = entries.Values
            .SelectMany(e => e.Pax.Keys.Where(k => k.StartsWith("SCHILY.xattr.trusted.overlay.", StringComparison.Ordinal)
                                                 && k != "SCHILY.xattr.trusted.overlay.opaque").Select(k => $"{e.Name} {k}"))
            .ToList();
        Assert.That(overlayRecords, Is.Empty, "overlay-private xattrs in the snapshot");
        Assert.That(entries.ContainsKey("./data/gone"), Is.True, "the whiteout itself is there");
    }
}
