namespace Csshim.Snapshot.Tests;

/// <summary>
/// An archive as runsc writes it (docs/FORMAT.md), built here with System.Formats.Tar, restores through csshim; and a
/// snapshot of the restored container carries both the restored changes and the new ones.
/// </summary>
[PerRuntimeAndMode]
public class RunscArchiveTests(string runtime, string mode) : SnapshotFixture(runtime, mode)
{
    private string RunscFixture() => new RunscStyleArchive()
        .Dir("./dir/").File("./dir/file", "from runsc\n")
        .Dir("./data/").Whiteout("./data/gone")
        .OpaqueDir("./odir/").File("./odir/new", "new\n")
        .WriteTo(SnapshotPath("runsc-format.tar"));

    private void LowerLayer()
    {
        LowerFile("data/gone", "deleted by the archive\n");
        LowerFile("data/kept", "kept\n");
        LowerFile("odir/old", "hidden by the opaque dir\n");
    }

    private const string Show = "cat /dir/file; ls -A /data; ls -A /odir; cat /odir/new";
    private const string Expected = "from runsc\nkept\nnew\nnew\n";

    [Test]
    public void RunscFormatArchive_Restores()
    {
        LowerLayer();
        var restored = RunRestored(RunscFixture(), Show);
        AssertSucceeded(restored, "restored run");
        Assert.That(restored.Stdout, Is.EqualTo(Expected));
    }

    /// <summary>A FIFO from an archive is a FIFO in the container, on runsc too (csshim gives runsc --host-fifo=open
    /// for staged rootfs); only FIFOs a runsc container makes itself stay inside the sandbox.</summary>
    [Test]
    public void RestoredFifo_IsAFifoInTheContainer()
    {
        var archive = new RunscStyleArchive().Fifo("./pipe").WriteTo(SnapshotPath("fifo.tar"));
        var restored = RunRestored(archive, "stat -c %F /pipe");
        AssertSucceeded(restored, "restored run");
        Assert.That(restored.Stdout, Is.EqualTo("fifo\n"));
    }

    [Test]
    public void SnapshotOfARestoredContainer_HoldsOldAndNewChanges()
    {
        LowerLayer();
        var id = StartRestored(RunscFixture());
        Assert.That(Exec(id, Show), Is.EqualTo(Expected), "the restored container");
        Exec(id, "echo more > /more && rm /data/kept && echo added > /odir/added");
        var archive = Snapshot(id, "second.tar");
        Delete(id);

        var entries = ArchiveContents.Read(archive);
        Assert.Multiple(() =>
        {
            Assert.That(entries.GetValueOrDefault("./dir/file")?.Text, Is.EqualTo("from runsc\n"), "restored file");
            Assert.That(entries.GetValueOrDefault("./data/gone")?.IsWhiteout, Is.True, "restored whiteout");
            Assert.That(entries.GetValueOrDefault("./odir/")?.Xattr("trusted.overlay.opaque"), Is.EqualTo("y"), "restored opaque dir");
            Assert.That(entries.GetValueOrDefault("./odir/new")?.Text, Is.EqualTo("new\n"), "restored file in the opaque dir");
            Assert.That(entries.GetValueOrDefault("./more")?.Text, Is.EqualTo("more\n"), "new file");
            Assert.That(entries.GetValueOrDefault("./data/kept")?.IsWhiteout, Is.True, "new whiteout");
            Assert.That(entries.GetValueOrDefault("./odir/added")?.Text, Is.EqualTo("added\n"), "new file in the opaque dir");
            Assert.That(entries.Keys, Has.None.Contains("old"), "lower content below the opaque dir leaked into the upper");
        });
        var again = RunRestored(archive, "cat /more /dir/file; ls -A /data; ls -A /odir");
        AssertSucceeded(again, "run from the second snapshot");
        Assert.That(again.Stdout, Is.EqualTo("more\nfrom runsc\nadded\nnew\n"));
    }
}
