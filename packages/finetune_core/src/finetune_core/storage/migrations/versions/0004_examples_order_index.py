"""examples' indexes for large projects: one in the listing order (a deep page is not a sort), and
token_count added to the split index (the statistics' GROUP BY reads the index alone)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_examples_project_split_valid', table_name='examples')
    op.create_index('ix_examples_project_split_valid', 'examples', ['project_id', 'split', 'is_valid', 'token_count'],
                    unique=False)
    op.create_index('ix_examples_project_order', 'examples',
                    ['project_id', 'created_at', 'request_key', 'position', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_examples_project_order', table_name='examples')
    op.drop_index('ix_examples_project_split_valid', table_name='examples')
    op.create_index('ix_examples_project_split_valid', 'examples', ['project_id', 'split', 'is_valid'], unique=False)
