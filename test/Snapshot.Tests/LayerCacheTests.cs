namespace Csshim.Snapshot.Tests;

/// <summary>
/// Restore mode "layer": one snapshot extracted once into csshim's layer cache and mounted under every container that
/// starts from it. The containers share the cached layer and nothing of it is copied into their uppers, their writes
/// stay their own, a snapshot of one is its whole change set, and an engine's layer stacks the same cached layer
/// again on every restart, rebuilt from the archive when the cache lost it, refused when both are gone.
/// </summary>
[RuncInEveryMode]
public class LayerCacheTests(string runtime, string mode) : SnapshotFixture(runtime, mode)
{
    private static readonly string[] Layered = [AllowFlag, "--shim-restore", "layer"];

    private string StartLayered(BusyboxBundle bundle) => StartContainer(bundle, Layered);

    [Test]
    public void ContainersOfOneSnapshot_ShareOneCachedLayer_AndKeepTheirWritesPrivate()
    {
        LowerFile("etc/gone", "of the image");
        var archive = SnapshotAfter("mkdir -p /dir/sub && echo hello > /dir/file && echo deep > /dir/sub/f && rm /etc/gone");
        var a = StartLayered(Bundle("exec sleep 1000", (UpperKey, archive)));
        var b = StartLayered(Bundle("exec sleep 1000", (UpperKey, archive)));

        Assert.That(StagedLayer(a), Is.Not.Null.And.EqualTo(StagedLayer(b)), "both containers stack one cached layer");
        Assert.That(Directory.Exists(Path.Combine(StagedUpper(b), "dir")), Is.False, "nothing of the archive is copied into an upper");
        Exec(a, "echo changed > /dir/file && rm /dir/sub/f && echo new > /dir/new");
        Assert.That(Exec(b, "cat /dir/file /dir/sub/f; [ -e /etc/gone ] || echo gone"), Is.EqualTo("hello\ndeep\ngone\n"),
            "b sees the archive, not a's writes");
        Assert.That(File.ReadAllText(Path.Combine(StagedLayer(a)!, "dir", "file")), Is.EqualTo("hello\n"), "the cached layer never changes");

        var ofA = ArchiveContents.Read(Snapshot(a, "a.tar"));
        Assert.Multiple(() =>
        {
            Assert.That(ofA["./dir/file"].Text, Is.EqualTo("changed\n"), "the container's write wins over the cached layer");
            Assert.That(ofA["./dir/new"].Text, Is.EqualTo("new\n"));
            Assert.That(ofA["./dir/sub/f"].IsWhiteout, Is.True, "a file of the cached layer it deleted is a whiteout");
            Assert.That(ofA["./etc/gone"].IsWhiteout, Is.True, "the archive's own whiteout is kept");
        });
        // A container that changed nothing snapshots to the archive it came from.
        var original = ArchiveContents.Read(archive);
        var ofB = ArchiveContents.Read(Snapshot(b, "b.tar"));
        Assert.That(ofB.Keys, Is.EquivalentTo(original.Keys));
        foreach (var (name, entry) in original)
            Assert.That(ofB[name].ToString() + ofB[name].Text, Is.EqualTo(entry.ToString() + entry.Text), name);
        Delete(a);
        Delete(b);
    }

    [Test]
    public void CopyMode_RestoresIntoTheUpper()
    {
        var archive = HelloWorldSnapshot();
        var id = StartContainer(Bundle("exec sleep 1000", (UpperKey, archive)), AllowFlag, "--shim-restore", "copy");
        Assert.That(StagedLayer(id), Is.Null);
        Assert.That(File.ReadAllText(Path.Combine(StagedUpper(id), "dir", "file")), Is.EqualTo("hello world\n"));
        Delete(id);
    }

    [Test]
    public void EngineRestart_StacksTheLayerAgain_RebuildsIt_OrRefusesWhenArchiveAndEntryAreGone()
    {
        if (!InPlace) Assert.Ignore("a tmpfs staging is made afresh on every create; only an engine's layer outlives it");
        var archive = HelloWorldSnapshot();
        var bundle = Bundle("exec sleep 1000", (UpperKey, archive));
        var rootfs = bundle.Root["path"]!.ToString();
        var first = StartLayered(bundle);
        var layer = StagedLayer(first)!;
        Exec(first, "echo mine > /mine");
        Delete(first);

        string Restart()
        {
            Engine.Remount(rootfs, Lower);
            var id = StartLayered(bundle);
            Assert.That(Exec(id, "cat /dir/file /mine"), Is.EqualTo("hello world\nmine\n"), "the restored files and the container's writes");
            Assert.That(StagedLayer(id), Is.EqualTo(layer));
            Delete(id);
            return id;
        }

        Restart();
        Directory.Delete(Path.GetDirectoryName(layer)!, recursive: true); // the cache lost the entry; the archive is there
        Restart();
        File.Delete(archive); // the entry is there: a restart needs nothing else
        Restart();
        Directory.Delete(Path.GetDirectoryName(layer)!, recursive: true);
        Engine.Remount(rootfs, Lower);
        var refused = Cli.RunWithGlobals(Layered, "create", "--bundle", bundle.Dir, NewId(Cli, "gone"));
        Assert.That(refused.ExitCode, Is.Not.Zero, "a restart without its cached layer and archive must not start");
        Assert.That(refused.Stderr, Does.Contain("which is gone from").And.Contain("no archive to build it from"), refused.ToString());
    }
}
