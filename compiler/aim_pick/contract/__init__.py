"""What the compiler and the host shim share: how a plan deploys, what a complete cache is,
the published API's file layout and records. Standard library only (it ships inside aim-pick.pyz)."""
