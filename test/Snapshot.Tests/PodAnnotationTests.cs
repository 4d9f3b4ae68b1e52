namespace Csshim.Snapshot.Tests;

/// <summary>
/// Pod annotations as runsc reads them (docs/FORMAT.md): with a container name only dev.gvisor.tar.rootfs.upper.NAME
/// counts (the pod's annotations reach every container, so each spec carries every per-name key and maybe the
/// bare one); CRI-O's name key is honoured too; a pod member without a name restores nothing.
/// </summary>
[PerRuntimeAndMode]
public class PodAnnotationTests(string runtime, string mode) : SnapshotFixture(runtime, mode)
{
    private const string CriName = "io.kubernetes.cri.container-name";
    private const string CriType = "io.kubernetes.cri.container-type";
    private const string CrioName = "io.kubernetes.cri-o.ContainerName";

    // "sandbox", not "container": runsc joins a "container" to the sandbox its spec names, and each container here
    // stands alone. Both types make a pod member for the annotation rules.
    private const string PodMember = "sandbox";

    private (string Key, string Value)[] PodAnnotations(string nameKey, string name) => new[]
    {
        (nameKey, name),
        (CriType, PodMember),
        (UpperKey, Archive("bare")),
        (UpperKey + ".a", Archive("a")),
        (UpperKey + ".b", Archive("b")),
    };

    /// <summary>An archive whose /who says which one it is.</summary>
    private string Archive(string who)
    {
        var path = SnapshotPath($"who-{who}.tar");
        return File.Exists(path) ? path : new RunscStyleArchive().File("./who", who + "\n").WriteTo(path);
    }

    [Test]
    public void TwoNamedContainers_EachGetTheirOwnArchive_AndSnapshotSeparately()
    {
        var a = StartSleeper(PodAnnotations(CriName, "a"));
        var b = StartSleeper(PodAnnotations(CriName, "b"));
        Assert.That(Exec(a, "cat /who"), Is.EqualTo("a\n"), "container a");
        Assert.That(Exec(b, "cat /who"), Is.EqualTo("b\n"), "container b");
        Exec(a, "echo mine-a > /mine");
        Exec(b, "echo mine-b > /mine");
        var snapA = Snapshot(a, "pod-a.tar");
        var snapB = Snapshot(b, "pod-b.tar");
        Delete(a);
        Delete(b);

        var (entriesA, entriesB) = (ArchiveContents.Read(snapA), ArchiveContents.Read(snapB));
        Assert.Multiple(() =>
        {
            Assert.That(entriesA["./who"].Text + entriesA["./mine"].Text, Is.EqualTo("a\nmine-a\n"), "snapshot of a");
            Assert.That(entriesB["./who"].Text + entriesB["./mine"].Text, Is.EqualTo("b\nmine-b\n"), "snapshot of b");
        });
    }

    [Test]
    public void CrioContainerName_SelectsThePerNameKey()
    {
        var r = RunWithAnnotations("cat /who", PodAnnotations(CrioName, "b"));
        AssertSucceeded(r, "run with CRI-O's name annotation");
        Assert.That(r.Stdout, Is.EqualTo("b\n"));
    }

    [Test]
    public void NamedContainerWithoutItsKey_IgnoresTheBareKey()
    {
        var r = RunWithAnnotations("cat /who 2>&1 || echo absent", PodAnnotations(CriName, "c"));
        AssertSucceeded(r, "run of pod member c");
        Assert.That(r.Stdout, Does.EndWith("absent\n"), "container c has no key of its own, yet restored an archive");
    }

    [Test]
    public void UnnamedPodMember_RestoresNothing()
    {
        var r = RunWithAnnotations("cat /who 2>&1 || echo absent", (CriType, PodMember), (UpperKey, Archive("bare")));
        AssertSucceeded(r, "run of an unnamed pod member");
        Assert.That(r.Stdout, Does.EndWith("absent\n"));
    }
}
