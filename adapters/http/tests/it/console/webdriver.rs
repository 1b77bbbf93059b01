pub(super) fn _y() {}
