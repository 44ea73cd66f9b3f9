/* placeholder: to be written */
typedef int tg_placeholder_idx;
